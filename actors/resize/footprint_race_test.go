//go:build race

package resize

func init() { raceEnabled = true }
