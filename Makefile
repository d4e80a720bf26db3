# Thin wrapper over CMake. `make` builds build/feedhost; `make test` runs ctest (C units + busted).
BUILD ?= build
WERROR ?= OFF
JOBS ?= 2

all: $(BUILD)/Makefile
	cmake --build $(BUILD) -j$(JOBS)

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFH_WERROR=$(WERROR)

test: all
	cd $(BUILD) && ctest --output-on-failure

# AddressSanitizer + UBSan build of the C core; busted loads the instrumented core.so into
# luajit, so the ASan runtime is preloaded.
asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFH_SANITIZE=ON -DFH_WERROR=ON
	cmake --build build-asan -j$(JOBS)

asan-test: asan
	cd build-asan && ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD=$$(gcc -print-file-name=libasan.so):$$(gcc -print-file-name=libubsan.so) ctest --output-on-failure

# libFuzzer harnesses of spec/fuzz (clang + libclang-rt-14-dev), apart from the CMake build:
# each target for FUZZ_SECONDS under ASan/UBSan; fails on any crash, leak or timeout.
FUZZ_SECONDS ?= 20
fuzz:
	spec/fuzz/run.sh $(FUZZ_SECONDS)

demo: all
	./$(BUILD)/feedhost demo

clean:
	rm -rf $(BUILD) build-asan build-fuzz

.PHONY: all test asan asan-test fuzz demo clean
