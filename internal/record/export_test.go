package record

// HoldDecodeSlots takes every decoding slot until release is called.
func HoldDecodeSlots() (release func()) {
	for range cap(decodeSlots) {
		decodeSlots <- struct{}{}
	}
	return func() {
		for range cap(decodeSlots) {
			<-decodeSlots
		}
	}
}
