// Input files (input_file.h): only regular files under the limit are read, never blocking; UTF-8 text.
#include "common/input_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/checked.h"
#include "common/error.h"
#include "common/input_error_message.h"

namespace clustersim {
namespace {

namespace fs = std::filesystem;

std::string ErrorOf(const std::string& path, uint64_t limit = kMaxTextInputBytes) {
  return InputErrorMessage([&] { (void)ReadTextInputFile(path, "scenario file", limit); });
}

std::string Dir() {
  const std::string dir = testing::TempDir() + "/input_file_test";
  fs::create_directories(dir);
  return dir;
}

TEST(InputFile, ReadsARegularFile) {
  const std::string f = Dir() + "/ok.textproto";
  std::ofstream(f) << "name: \"caf\xc3\xa9\"\n";
  EXPECT_EQ(ReadTextInputFile(f, "scenario file"), "name: \"caf\xc3\xa9\"\n");
}

TEST(InputFile, RefusesWhatIsNotARegularFileBeforeReading) {
  EXPECT_EQ(ErrorOf("/dev/zero"), "/dev/zero: is not a regular file (a FIFO, socket or device), not a scenario file");
  EXPECT_NE(ErrorOf("/dev/urandom").find("not a regular file"), std::string::npos);
  EXPECT_EQ(ErrorOf(Dir()), Dir() + ": is a directory, not a scenario file");
  const std::string fifo = Dir() + "/fifo";
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_NE(ErrorOf(fifo).find("not a regular file"), std::string::npos);  // and it does not block
  const std::string link = Dir() + "/zero_link";
  fs::remove(link);
  fs::create_symlink("/dev/zero", link);
  EXPECT_NE(ErrorOf(link).find("not a regular file"), std::string::npos);
  EXPECT_NE(ErrorOf(Dir() + "/missing").find("cannot open scenario file (missing or unreadable)"), std::string::npos);
  EXPECT_EQ(ErrorOf(""), "\"\": no scenario file given (an empty path)");
}

TEST(InputFile, RefusesFilesOverTheLimit) {
  const std::string f = Dir() + "/big";
  std::ofstream(f) << std::string(2000, 'x');
  EXPECT_NE(ErrorOf(f, 1000).find("larger than 0 MiB, the limit for a scenario file"), std::string::npos);
  EXPECT_EQ(ErrorOf(f, 2000), "");
  // Files that report no size (/proc) are cut off while reading.
  EXPECT_NE(ErrorOf("/proc/self/status", 16).find("larger than"), std::string::npos);
}

TEST(InputFile, TextMustBeUtf8WithoutNul) {
  EXPECT_EQ(FirstInvalidUtf8("plain, caf\xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80"), std::string::npos);
  EXPECT_EQ(FirstInvalidUtf8("ab\xff"), 2u);
  EXPECT_EQ(FirstInvalidUtf8("ab\xc3"), 2u);        // truncated sequence
  EXPECT_EQ(FirstInvalidUtf8("\xc0\xaf"), 0u);      // overlong
  EXPECT_EQ(FirstInvalidUtf8("\xed\xa0\x80"), 0u);  // surrogate
  EXPECT_EQ(FirstInvalidUtf8(std::string("a\0b", 3)), 1u);
  const std::string f = Dir() + "/latin1";
  std::ofstream(f) << "name: \"x\"\nname: \"caf\xe9\"\n";
  EXPECT_EQ(ErrorOf(f), f + ":2:11: not a scenario file: the text is not valid UTF-8 (or holds a NUL byte) here");
}

TEST(InputFile, ShownValuesAreOneShortLine) {
  EXPECT_EQ(InputError::Shown("a\nb\x1b"), "a\\x0ab\\x1b");
  const std::string shown = InputError::Shown(std::string(10'000'000, 'y'));
  EXPECT_LT(shown.size(), 160u);
  EXPECT_NE(shown.find("... (10000000 bytes)"), std::string::npos);
  EXPECT_EQ(ParserMessageShown("Unexpected token.\n{\"secret\": 1}\n ^"), "Unexpected token.");
}

TEST(Checked, ProductsThatDoNotFitAreNotWrapped) {
  EXPECT_EQ(CheckedProduct({8, 4, 2}), 64u);
  EXPECT_FALSE(CheckedProduct({4294967295u, 4294967295u, 65536}).has_value());
  EXPECT_EQ(CheckedProduct({}), 1u);
}

}  // namespace
}  // namespace clustersim
