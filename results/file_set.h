// Output files written as sets, all or nothing, without following links planted in the output directory.
//
// Every file of a set is first written to a new temporary file beside its target, created with O_CREAT | O_EXCL |
// O_NOFOLLOW under a fresh random name (".<name>.<random>.tmp"), so that no existing file or link is ever opened for
// writing; every write and the close are checked (a full disk fails the set). Only when every file is written are
// they renamed into place, in order; a target that already exists is first hard-linked to a backup name so that, if a
// later rename fails, every file already replaced gets its previous content back (or, where there was none, is
// removed) and the error says which of the two happened. A rename replaces a link at the target itself, never the
// file it points to. No temporary or backup file is left behind, except if the process is killed during the renames
// (microseconds): then the files are each either old or new, and the temporaries are dot-files.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace clustersim::results {

// Writes `content` to `path` atomically (temporary file + rename). Throws SimulationError on I/O failure, leaving
// neither a new `path` nor the temporary file behind.
void WriteFileAtomic(const std::string& path, const std::string& content);
// Writes several files as one set (see above). Throws SimulationError on a failure, after restoring the previous
// files or removing the new ones; an InputError when a target is a directory (before anything is written).
void WriteFilesAtomic(const std::vector<std::pair<std::string, std::string>>& path_and_content);
// Creates directory `dir` (and its parents) for output; throws InputError naming `dir` when it cannot, or when `dir`
// exists as something else than a directory. `subdir_of_output` marks a directory clustersim itself creates inside
// an output directory (a sweep's points/): it must not be a symbolic link, which would send files elsewhere.
void MakeOutputDirectory(const std::string& dir, bool subdir_of_output = false);

namespace detail {
// WriteFilesAtomic with rename(2) replaced by `rename_fn` (same contract), so that tests can make a rename fail.
void WriteFilesAtomicWith(const std::vector<std::pair<std::string, std::string>>& path_and_content,
                          int (*rename_fn)(const char* from, const char* to));
}  // namespace detail

}  // namespace clustersim::results
