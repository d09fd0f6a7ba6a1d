#pragma once
// The skip every CUDA device test starts with: CI machines have nvcc but no
// GPU, and say so instead of failing.
#include <gtest/gtest.h>

#include "core/device.h"

/// GTEST_SKIP()s the test, saying why, unless the CUDA backend is built and
/// a CUDA device is visible.
#define REQUIRE_CUDA_DEVICE()                                                    \
  do {                                                                           \
    if (!::torchless::cuda_built()) GTEST_SKIP() << "skipped: no CUDA backend built"; \
    if (::torchless::cuda_device_count() == 0) GTEST_SKIP() << "skipped: no CUDA device"; \
  } while (0)
