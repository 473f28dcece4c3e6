package server

import (
	"fmt"
	"reflect"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fieldMem is what decoding one field allocates beyond its bytes, taken
// from the kmsg Go type of the field.
type fieldMem struct {
	ptr      int64 // pointee size, if the Go field is a pointer
	elem     int64 // size of an array element
	elemPtrs bool  // array elements hold pointers (allocated differently)
}

// scanMem holds, for each of scanStructs, the memory of its fields, and
// the allocator's size classes, which round up a slice's capacity.
type scanMem struct {
	fields       [][]fieldMem
	noscan, scan []int64
}

// maxSmallAlloc is the largest allocation the Go runtime rounds up to a
// size class (32 KiB less a header); larger ones take whole pages.
const (
	maxSmallAlloc = 32<<10 - 8
	allocPage     = 8 << 10
)

var scanMemory = sync.OnceValue(func() *scanMem {
	m := &scanMem{fields: make([][]fieldMem, len(scanStructs))}
	types := make([]reflect.Type, len(scanStructs))
	for _, r := range scanRequests {
		req := kmsg.RequestForKey(r.key)
		if req == nil {
			continue // a key this kmsg does not know is never decoded
		}
		m.bind(types, r.root, reflect.TypeOf(req).Elem())
	}
	m.noscan = probeClasses(func(n int) int { return cap(append([]byte(nil), make([]byte, n)...)) }, 1)
	m.scan = probeClasses(func(n int) int { return 8 * cap(append([]*byte(nil), make([]*byte, n/8)...)) }, 8)
	return m
})

// bind matches the fields of scanStructs[idx] to the Go struct t by name.
// A mismatch means scantable.go was generated from definitions other than
// the ones of the kmsg in go.mod: a build error, hence the panic.
func (m *scanMem) bind(types []reflect.Type, idx int, t reflect.Type) {
	if types[idx] != nil {
		if types[idx] != t {
			panic(fmt.Sprintf("server: scan struct %s is both %v and %v", scanStructs[idx].name, types[idx], t))
		}
		return
	}
	types[idx] = t
	fields := scanStructs[idx].fields
	m.fields[idx] = make([]fieldMem, len(fields))
	for i, f := range fields {
		sf, ok := t.FieldByName(f.name)
		if !ok {
			panic(fmt.Sprintf("server: kmsg type %v has no field %s (regenerate scantable.go)", t, f.name))
		}
		ft, fm := sf.Type, &m.fields[idx][i]
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
			fm.ptr = int64(ft.Size())
		}
		if f.kind == wireArray {
			ft = ft.Elem()
			fm.elem, fm.elemPtrs = int64(ft.Size()), hasPointers(ft)
		}
		if f.strct >= 0 {
			m.bind(types, f.strct, ft)
		}
	}
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// probeClasses lists the sizes the runtime rounds small allocations up to,
// asking it (grow returns what a slice of n bytes grows to) rather than
// copying its tables; step is the size granularity grow understands.
func probeClasses(grow func(n int) int, step int) []int64 {
	var classes []int64
	for n := step; n <= maxSmallAlloc; {
		c := grow(n)
		classes = append(classes, int64(c))
		n = (c/step + 1) * step
	}
	return classes
}

// sliceBytes is the memory of a slice of n elements of size elem as kmsg
// makes it (append to an empty slice), whose capacity the allocator
// rounds up.
func (m *scanMem) sliceBytes(n, elem int64, ptrs bool) int64 {
	mem := n * elem
	if elem == 0 {
		return 0
	}
	var rounded int64
	if mem > maxSmallAlloc {
		rounded = (mem + allocPage - 1) &^ (allocPage - 1)
	} else {
		classes := m.noscan
		if ptrs {
			classes = m.scan
		}
		rounded = classes[sort.Search(len(classes), func(i int) bool { return classes[i] >= mem })]
	}
	return rounded / elem * elem
}
