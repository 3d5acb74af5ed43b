// Test helper: the message of the InputError a callable throws. Header-only, for the GoogleTest binaries of every
// layer (a test that expects no error compares with "").
#pragma once

#include <string>

#include "common/error.h"

namespace clustersim {

// Calls `f`; returns the what() of the InputError it throws, or "" when it returns normally. Other exceptions
// propagate (the test fails on them).
template <class F>
std::string InputErrorMessage(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace clustersim
