// Shared by the fuzz drivers (one per binary): protobuf's own log lines (parse errors) would be printed for every
// input; the command line silences them too (cli/main.cpp).
#pragma once

#include <google/protobuf/stubs/logging.h>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}
