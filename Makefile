# The two commands: `make run` and `make check`. See README.md.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# A compiler cache when the machine has one (install-deps installs it): rebuilds on
# 2 cores take minutes otherwise. Paths are made relative to the checkout, so
# clones in other folders share the cache.
ifneq ($(shell command -v ccache 2>/dev/null),)
CMAKE_FLAGS += -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
endif

.PHONY: all deps build run check check-unit check-sanitize check-package clean format tidy

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

build: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: deps build
	@bash scripts/run-dev.sh $(BUILD_DIR)

check: deps build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

check-sanitize: deps
	cmake -S . -B build-sanitize -DNTSD_SANITIZE=ON -DNTSD_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build build-sanitize -j $(JOBS)
	# The fuzz test builds its own ASan/UBSan fuzzers, and the soak measures a
	# production build: neither is repeated here.
	cd build-sanitize && ctest --output-on-failure -j $(JOBS) --timeout 900 -E '^fuzz$$' -LE soak

# Builds the Debian package into build-deb/ (only ntsd and nts-query are compiled),
# fails on any lintian error or warning, then installs it in a clean Debian 12
# chroot (debootstrap, cached in build-deb/chroot-base) and checks it there.
check-package: deps
	bash scripts/build-deb.sh build-deb
	bash scripts/check-package-chroot.sh build-deb

format:
	bash scripts/format.sh

tidy: $(BUILD_DIR)/CMakeCache.txt
	bash scripts/tidy.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) build-sanitize build-deb
