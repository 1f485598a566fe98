// Package encbench holds only a benchmark: the WebP and AVIF encoders a
// node could use, side by side on the same pixels (bench_test.go). It
// keeps the WebAssembly candidates (github.com/gen2brain/webp and
// github.com/gen2brain/avif, on wazero) out of the server's build.
//
// Its command variants (encbench/variants) is the Go half of
// bench/variants.sh, the four WebP variants side by side with sharp.
package encbench
