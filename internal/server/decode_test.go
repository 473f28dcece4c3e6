package server

import (
	"fmt"
	"math/rand/v2"
	"reflect"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// decodedSize is the test oracle of scanDecodedSize: it walks a decoded
// request by reflection and returns the memory it holds beyond the frame,
// in the same model (byte fields alias the frame), refusing an array or a
// tagged-field section over Kafka's limits.
func decodedSize(req kmsg.Request) (int64, error) {
	return walk(reflect.ValueOf(req).Elem())
}

var tagsType = reflect.TypeFor[kmsg.Tags]()

func walk(v reflect.Value) (int64, error) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return 0, nil
		}
		n, err := walk(v.Elem())
		return n + int64(v.Type().Elem().Size()), err
	case reflect.String:
		return int64(v.Len()), nil
	case reflect.Slice:
		return walkSlice(v)
	case reflect.Struct:
		return walkStruct(v)
	}
	return 0, nil
}

func walkSlice(v reflect.Value) (int64, error) {
	if v.Type().Elem().Kind() == reflect.Uint8 {
		return 0, nil
	}
	if v.Len() > maxArrayElements {
		return 0, fmt.Errorf("%w: %d", errTooManyElements, v.Len())
	}
	total := int64(v.Cap()) * int64(v.Type().Elem().Size())
	for i := range v.Len() {
		n, err := walk(v.Index(i))
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

func walkStruct(v reflect.Value) (int64, error) {
	if v.Type() == tagsType {
		tags := v.Addr().Interface().(*kmsg.Tags)
		if tags.Len() > maxTaggedFields {
			return 0, fmt.Errorf("%w: %d", errTooManyTags, tags.Len())
		}
		if tags.Len() == 0 {
			return 0, nil
		}
		return tagsMapBytes + int64(tags.Len())*tagBytes, nil
	}
	var total int64
	for i := range v.NumField() {
		if !v.Type().Field(i).IsExported() {
			continue
		}
		n, err := walk(v.Field(i))
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// randomRequest returns the body of a random request of key and version,
// every field filled by reflection: arrays of 0 to 3 elements, random
// strings, nil or set nullable fields, and unknown tagged fields. ok is
// false if kmsg cannot encode what was drawn (a nil where the version
// allows none).
func randomRequest(rng *rand.Rand, key, version int16) (body []byte, ok bool) {
	req := kmsg.RequestForKey(key)
	v := reflect.ValueOf(req).Elem()
	for i := range v.NumField() {
		if v.Type().Field(i).Name != "Version" && v.Type().Field(i).IsExported() {
			fill(rng, v.Field(i), 0)
		}
	}
	req.SetVersion(version)
	defer func() {
		if recover() != nil {
			body, ok = nil, false
		}
	}()
	return req.AppendTo(nil), true
}

func fill(rng *rand.Rand, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(rng.Uint64()) >> (64 - v.Type().Bits()))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		v.SetUint(rng.Uint64() >> (64 - v.Type().Bits()))
	case reflect.Float64:
		v.SetFloat(rng.Float64())
	case reflect.String:
		v.SetString(randomString(rng))
	case reflect.Array:
		for i := range v.Len() {
			fill(rng, v.Index(i), depth)
		}
	case reflect.Pointer:
		if rng.IntN(3) > 0 {
			v.Set(reflect.New(v.Type().Elem()))
			fill(rng, v.Elem(), depth+1)
		}
	case reflect.Slice:
		fillSlice(rng, v, depth)
	case reflect.Struct:
		fillStruct(rng, v, depth)
	}
}

func fillSlice(rng *rand.Rand, v reflect.Value, depth int) {
	switch rng.IntN(5) {
	case 0:
		return // nil
	case 1:
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		return
	}
	n := rng.IntN(4)
	if depth > 5 {
		n = 0
	}
	v.Set(reflect.MakeSlice(v.Type(), n, n))
	for i := range n {
		fill(rng, v.Index(i), depth+1)
	}
}

func fillStruct(rng *rand.Rand, v reflect.Value, depth int) {
	if v.Type() == tagsType {
		tags := v.Addr().Interface().(*kmsg.Tags)
		for range rng.IntN(4) {
			// Keys from 100: below are the tags kmsg knows.
			tags.Set(100+rng.Uint32N(1000), []byte(randomString(rng)))
		}
		return
	}
	for i := range v.NumField() {
		if v.Type().Field(i).IsExported() {
			fill(rng, v.Field(i), depth)
		}
	}
}

func randomString(rng *rand.Rand) string {
	b := make([]byte, rng.IntN(6))
	for i := range b {
		b[i] = byte('a' + rng.IntN(26))
	}
	return string(b)
}
