package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka 4.x refuses requests with more array elements or tagged fields
// than these; so does Eddy, before handling the request.
const (
	maxArrayElements = 1_000_000
	maxTaggedFields  = 10_000
	// tagsMapBytes is what a non-empty set of unknown tagged fields costs
	// once decoded (a Go map), beyond its entries.
	tagsMapBytes = 320
	tagBytes     = 48 // per decoded tagged field
)

var (
	errTooManyElements = errors.New("server: array has more than 1000000 elements")
	errTooManyTags     = errors.New("server: more than 10000 tagged fields")
	tagsType           = reflect.TypeFor[kmsg.Tags]()
	factors            sync.Map // reflect.Type → int64, see decodeFactor
)

// decodeFactor bounds how many bytes of memory decoding one byte of a
// request of req's type can take: kmsg checks that an array's elements fit
// in the bytes left, at one byte or more each, so the worst case is the
// largest element type (with the strings and tagged fields it points to)
// repeated once per byte.
func decodeFactor(req kmsg.Request) int64 {
	t := reflect.TypeOf(req)
	if f, ok := factors.Load(t); ok {
		return f.(int64)
	}
	f := max(1, maxElemCost(t, map[reflect.Type]bool{}))
	factors.Store(t, f)
	return f
}

func maxElemCost(t reflect.Type, seen map[reflect.Type]bool) int64 {
	if seen[t] {
		return 0
	}
	seen[t] = true
	var best int64
	switch t.Kind() {
	case reflect.Pointer:
		best = maxElemCost(t.Elem(), seen)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return 1 // bytes alias the frame
		}
		best = max(elemCost(t.Elem()), maxElemCost(t.Elem(), seen))
	case reflect.Struct:
		for i := range t.NumField() {
			best = max(best, maxElemCost(t.Field(i).Type, seen))
		}
	}
	return best
}

// elemCost is the memory of one decoded element of type t holding empty
// values: the element itself, a string header per pointer field and a map
// for its tagged fields.
func elemCost(t reflect.Type) int64 {
	n := int64(t.Size())
	if t.Kind() != reflect.Struct {
		return n
	}
	for i := range t.NumField() {
		switch f := t.Field(i).Type; {
		case f == tagsType:
			n += tagsMapBytes + tagBytes
		case f.Kind() == reflect.Pointer:
			n += int64(f.Elem().Size())
		}
	}
	return n
}

// checkLeadingArray refuses, before anything is decoded, a Metadata
// request naming more topics than Kafka allows: its body starts with that
// array, and a frame of empty names is the cheapest way to make decoding
// amplify (24 bytes of memory per byte). Other requests are checked after
// decoding, by decodedSize.
func checkLeadingArray(req kmsg.Request, body []byte) error {
	if req.Key() != kmsg.Metadata.Int16() {
		return nil
	}
	var n int64
	if req.IsFlexible() {
		v, k := binary.Uvarint(body)
		if k <= 0 {
			return nil // kmsg reports the malformed body
		}
		n = int64(v) - 1
	} else if len(body) >= 4 {
		n = int64(int32(binary.BigEndian.Uint32(body)))
	}
	if n > maxArrayElements {
		return fmt.Errorf("%w: %d", errTooManyElements, n)
	}
	return nil
}

// decodedSize walks a decoded request, refusing it if an array or a
// tagged-field section is over Kafka's limits, and returns an estimate of
// the memory it holds beyond the frame (byte fields alias the frame).
func decodedSize(req kmsg.Request) (int64, error) {
	v := reflect.ValueOf(req).Elem()
	return walk(v)
}

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
	switch v.Type().Elem().Kind() {
	case reflect.Struct, reflect.Pointer, reflect.String, reflect.Slice:
	default:
		return total, nil // numbers hold nothing beyond the array
	}
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
