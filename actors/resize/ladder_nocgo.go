//go:build !cgo

package resize

// halveRow is halveRowGo in a build without cgo.
func halveRow(d, r0, r1 []uint8, even int) { halveRowGo(d, r0, r1, even) }
