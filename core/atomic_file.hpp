#pragma once
/// \file
/// Crash-safe file writes: path always holds either its old contents or the complete new ones.
#include <string>
#include <string_view>
#include <vector>

namespace tg {

/// Writes the pieces, one after another, to a temporary file in path's directory, fsyncs it
/// and renames it over path (then fsyncs the directory). The file gets mode 0666 & ~umask, as a
/// plain open(O_CREAT) would; an overwritten file's mode is not kept. Temporary files that
/// earlier writes of path left when they were killed are removed. Throws IOError
/// "<who>: <path>: <what failed>" and leaves path as it was.
void write_file_atomically(const std::string& path, const std::vector<std::string_view>& pieces,
                           std::string_view who);

}  // namespace tg
