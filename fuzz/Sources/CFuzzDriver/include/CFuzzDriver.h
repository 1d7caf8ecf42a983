#ifndef CFUZZDRIVER_H
#define CFUZZDRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, LLVM 11 and later), linked in by -sanitize=fuzzer. SwiftPM links every
/// executable with `--defsym main=<Target>_main`, so each fuzz target defines that function and hands over to
/// this driver, which parses the libFuzzer flags and runs the target's LLVMFuzzerTestOneInput.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
