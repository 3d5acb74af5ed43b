// Output file sets (file_set.h): all or nothing, previous files restored on a failure, links never followed.
#include "results/file_set.h"

#include <gtest/gtest.h>
#include <stdio.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"

namespace clustersim::results {
namespace {

namespace fs = std::filesystem;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string FreshDir(const std::string& name) {
  const std::string dir = testing::TempDir() + "/" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(FileSet, WritesEveryFileAndLeavesNoTemporary) {
  const std::string dir = FreshDir("file_set_write");
  std::ofstream(dir + "/a.txt") << "old a";
  WriteFilesAtomic({{dir + "/a.txt", "new a"}, {dir + "/b.txt", "new b"}});
  EXPECT_EQ(Read(dir + "/a.txt"), "new a");
  EXPECT_EQ(Read(dir + "/b.txt"), "new b");
  EXPECT_EQ(Listing(dir), (std::vector<std::string>{"a.txt", "b.txt"}));
}

// A rename that fails midway (here the third) restores the files already replaced and removes the new ones: the
// directory holds the previous set, and the message says so.
int calls = 0;
int FailThirdRename(const char* from, const char* to) {
  if (++calls == 3) {
    errno = EIO;
    return -1;
  }
  return ::rename(from, to);
}

TEST(FileSet, AFailedRenameRestoresThePreviousSet) {
  const std::string dir = FreshDir("file_set_restore");
  std::ofstream(dir + "/result.json") << "old result";
  std::ofstream(dir + "/step.csv") << "old step";
  calls = 0;
  try {
    detail::WriteFilesAtomicWith(
        {{dir + "/result.json", "new result"}, {dir + "/summary.txt", "new summary"}, {dir + "/step.csv", "new step"}},
        &FailThirdRename);
    FAIL() << "no error";
  } catch (const SimulationError& e) {
    EXPECT_NE(std::string(e.what()).find("the previous files were restored"), std::string::npos) << e.what();
  }
  EXPECT_EQ(Listing(dir), (std::vector<std::string>{"result.json", "step.csv"}));
  EXPECT_EQ(Read(dir + "/result.json"), "old result");
  EXPECT_EQ(Read(dir + "/step.csv"), "old step");
}

TEST(FileSet, AFailedRenameWithNoPreviousSetLeavesNothing) {
  const std::string dir = FreshDir("file_set_none");
  calls = 1;  // the second rename fails
  try {
    detail::WriteFilesAtomicWith({{dir + "/a", "1"}, {dir + "/b", "2"}, {dir + "/c", "3"}}, &FailThirdRename);
    FAIL() << "no error";
  } catch (const SimulationError& e) {
    EXPECT_NE(std::string(e.what()).find("no file of the set was written"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(Listing(dir).empty());
}

// A link planted in a shared output directory, at a target's name or at any temporary name, is never followed: the
// file it points to is untouched and the target becomes a regular file.
TEST(FileSet, PlantedLinksAreNotFollowed) {
  const std::string dir = FreshDir("file_set_links");
  const std::string outside = FreshDir("file_set_outside") + "/victim";
  std::ofstream(outside) << "precious";
  fs::create_symlink(outside, dir + "/result.json");
  fs::create_symlink(outside, dir + "/result.json.tmp");  // the old fixed temporary name
  WriteFilesAtomic({{dir + "/result.json", "new"}, {dir + "/summary.txt", "s"}});
  EXPECT_EQ(Read(outside), "precious");
  EXPECT_FALSE(fs::is_symlink(dir + "/result.json"));
  EXPECT_EQ(Read(dir + "/result.json"), "new");
}

TEST(FileSet, ADirectoryAtATargetIsRefusedBeforeAnythingIsWritten) {
  const std::string dir = FreshDir("file_set_dir");
  fs::create_directories(dir + "/b.txt");
  EXPECT_THROW(WriteFilesAtomic({{dir + "/a.txt", "a"}, {dir + "/b.txt", "b"}}), InputError);
  EXPECT_EQ(Listing(dir), (std::vector<std::string>{"b.txt"}));
}

TEST(FileSet, AWriteThatFailsLeavesNoFileOfItsSet) {
  const std::string dir = FreshDir("file_set_fail");
  // The second file's temporary name cannot be created (a name over the file system's 255-byte limit).
  EXPECT_THROW(WriteFilesAtomic({{dir + "/a.txt", "a"}, {dir + "/" + std::string(250, 'x'), "b"}}), SimulationError);
  EXPECT_TRUE(Listing(dir).empty());
}

TEST(FileSet, OutputSubdirectoriesMustNotBeLinks) {
  const std::string dir = FreshDir("file_set_subdir");
  fs::create_symlink(testing::TempDir(), dir + "/points");
  EXPECT_THROW(MakeOutputDirectory(dir + "/points", true), InputError);
  EXPECT_NO_THROW(MakeOutputDirectory(dir + "/other", true));
  std::ofstream(dir + "/file") << "x";
  EXPECT_THROW(MakeOutputDirectory(dir + "/file"), InputError);
}

}  // namespace
}  // namespace clustersim::results
