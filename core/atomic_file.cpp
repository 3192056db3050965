#include "core/atomic_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"

namespace tg {

namespace {

std::string errno_text() { return std::strerror(errno); }

// The process umask, read without changing it: umask() can only be read by setting it, and the
// setting is shared by all threads. Linux shows it in /proc/self/status (since 4.7). Where that
// is missing, set-and-restore with a strict 077 in between, so a file another thread creates in
// that moment comes out more private, never less.
mode_t current_umask() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("Umask:", 0) == 0) {
            char* end = nullptr;
            const unsigned long mask = std::strtoul(line.c_str() + 6, &end, 8);
            if (end != line.c_str() + 6 && mask <= 0777) return static_cast<mode_t>(mask);
        }
    const mode_t mask = ::umask(077);
    ::umask(mask);
    return mask;
}

// Removes the temporary files of earlier saves of target that were killed mid-write: regular
// files in target's directory named "." + filename + ".tmp." + 6 letters or digits (what
// mkstemp puts for XXXXXX). Best effort: the save itself already succeeded. Two saves of one
// path at the same time can remove each other's temporary file; the loser then fails with an
// IOError and path still holds a complete file.
void remove_leftovers(const std::filesystem::path& dir, const std::filesystem::path& target) {
    namespace fs = std::filesystem;
    const std::string prefix = fmt::format(".{}.tmp.", target.filename().string());
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.size() != prefix.size() + 6 || name.compare(0, prefix.size(), prefix) != 0) continue;
        if (!std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                         [](char c) { return ('0' <= c && c <= '9') || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z'); }))
            continue;
        std::error_code type_ec;
        if (it->symlink_status(type_ec).type() == fs::file_type::regular) ::unlink(it->path().c_str());
    }
}

[[noreturn]] void fail(std::string_view who, const std::string& path, const std::string& what) {
    throw IOError(fmt::format("{}: {}: {}", who, path, what));
}

}  // namespace

void write_file_atomically(const std::string& path, const std::vector<std::string_view>& pieces,
                           std::string_view who) {
    namespace fs = std::filesystem;
    const fs::path target(path);
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::string tmpl = (dir / fmt::format(".{}.tmp.XXXXXX", target.filename().string())).string();
    const int fd = mkstemp(tmpl.data());
    if (fd < 0) fail(who, path, "cannot create a temporary file in " + dir.string() + ": " + errno_text());
    auto write_all = [&](const char* p, std::size_t n) {
        while (n > 0) {
            const ssize_t w = ::write(fd, p, n);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return false;
            p += w;
            n -= static_cast<std::size_t>(w);
        }
        return true;
    };
    // mkstemp creates the file 0600; give it what open(O_CREAT) would.
    bool ok = ::fchmod(fd, 0666 & ~current_umask()) == 0;
    for (std::string_view piece : pieces) ok = ok && write_all(piece.data(), piece.size());
    const std::string err = ok ? "" : errno_text();
    ok = ok && ::fsync(fd) == 0;
    ok = (::close(fd) == 0) && ok;
    if (!ok || ::rename(tmpl.c_str(), path.c_str()) != 0) {
        const std::string why = err.empty() ? errno_text() : err;
        ::unlink(tmpl.c_str());
        fail(who, path, "write failed: " + why);
    }
    remove_leftovers(dir, target);
    // Make the rename (and the removals) durable.
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

}  // namespace tg
