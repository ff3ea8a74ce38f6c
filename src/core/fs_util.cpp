#include "ned/core/fs_util.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "ned/core/error.hpp"
#include "ned/core/output_dir.hpp"

namespace fs = std::filesystem;

namespace ned {

namespace {
struct DeclaredInput {
    std::string path, what;
    fs::path canonical;  // weakly_canonical at declaration (symlinks and ./.. resolved)
};
std::mutex g_inputs_mutex;
std::vector<DeclaredInput>& declared_inputs() {
    static std::vector<DeclaredInput> v;
    return v;
}
}  // namespace

void declare_input(const std::string& path, const std::string& what) {
    if (path.empty()) return;
    std::error_code ec;
    if (fs::is_directory(path, ec)) return;
    fs::path canon = fs::weakly_canonical(fs::absolute(path, ec), ec);
    if (ec) canon = fs::absolute(path, ec).lexically_normal();
    std::lock_guard<std::mutex> lock(g_inputs_mutex);
    declared_inputs().push_back({path, what, canon});
}

void clear_declared_inputs() {
    std::lock_guard<std::mutex> lock(g_inputs_mutex);
    declared_inputs().clear();
}

void check_not_input(const std::string& path, const std::string& what) {
    if (path.empty()) return;
    std::error_code ec;
    fs::path canon = fs::weakly_canonical(fs::absolute(path, ec), ec);
    if (ec) canon = fs::absolute(path, ec).lexically_normal();
    const bool exists = fs::exists(path, ec);
    std::lock_guard<std::mutex> lock(g_inputs_mutex);
    for (const auto& in : declared_inputs()) {
        bool same = canon == in.canonical;
        std::error_code ec2;
        if (!same && exists && fs::exists(in.canonical, ec2)) same = fs::equivalent(path, in.canonical, ec2) && !ec2;
        if (same)
            throw InputError(cat(what, " ", path, ": is the ", in.what, " ", in.path,
                                 " of this command; an output never replaces an input (choose another path)"));
    }
}

void check_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& outputs) {
    auto canonical = [](const std::string& path) {
        std::error_code ec;
        fs::path c = fs::weakly_canonical(fs::absolute(path, ec), ec);
        if (ec) c = fs::absolute(path, ec).lexically_normal();
        return c;
    };
    for (size_t i = 0; i < outputs.size(); ++i) {
        const auto& [a, a_what] = outputs[i];
        if (a.empty()) continue;
        check_not_input(a, a_what);
        const fs::path ca = canonical(a);
        for (size_t j = 0; j < i; ++j) {
            const auto& [b, b_what] = outputs[j];
            if (b.empty()) continue;
            std::error_code ec;
            bool same = ca == canonical(b);
            if (!same && fs::exists(a, ec) && fs::exists(b, ec)) same = fs::equivalent(a, b, ec) && !ec;
            if (same)
                throw InputError(cat(a_what, " ", a, ": is also the ", b_what, " ", b,
                                     " of this command; every output needs its own path"));
        }
    }
}

void check_output_path(const std::string& path, bool overwrite, const std::string& what) {
    if (path.empty()) throw InputError(what + ": empty path");
    check_not_input(path, what);
    fs::path p(path);
    fs::path dir = p.parent_path();
    std::error_code ec;
    if (!dir.empty() && !fs::is_directory(dir, ec))
        throw InputError(cat(what, " ", path, ": folder '", dir.string(), "' does not exist"));
    if (fs::is_directory(p, ec)) throw InputError(cat(what, " ", path, ": is a folder, expected a file path"));
    const std::string folder = dir.empty() ? std::string(".") : dir.string();
    if (::access(folder.c_str(), W_OK) != 0)
        throw InputError(cat(what, " ", path, ": folder '", folder, "' is not writable"));
    if (!overwrite && fs::exists(p, ec))
        throw InputError(cat(what, " ", path, ": already exists (use -y to overwrite)"));
}

void check_extension(const std::string& path, const std::vector<std::string>& exts, const std::string& what) {
    std::string ext = fs::path(path).extension().string();
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string list;
    for (const auto& e : exts) {
        if (ext == e) return;
        list += (list.empty() ? "" : ", ") + e;
    }
    throw InputError(cat(what, " ", path, ": unsupported extension '", ext, "' (expected ", list, ")"));
}

void check_input_file(const std::string& path, const std::string& what) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw InputError(cat(what, " ", path, ": no such file"));
    if (!fs::is_regular_file(path, ec)) throw InputError(cat(what, " ", path, ": not a regular file"));
    declare_input(path, what);
}

namespace {
// Cleanup registries readable from a signal handler: fixed slots, lock-free atomics, no allocation. A slot's
// state is 0 free, 1 being filled, 2 armed (the handler reads armed slots only).
constexpr size_t kCleanupPathMax = 4096;

/// Claim a free slot of `slots`, fill it with `fill(slot)` and arm it; -1 when all are taken.
template <typename Slot, size_t N, typename Fill>
int claim_slot(Slot (&slots)[N], Fill fill) {
    for (size_t i = 0; i < N; ++i) {
        int expected = 0;
        if (slots[i].state.compare_exchange_strong(expected, 1)) {
            fill(slots[i]);
            slots[i].state.store(2);
            return static_cast<int>(i);
        }
    }
    return -1;
}

template <typename Slot, size_t N>
void release_slot(Slot (&slots)[N], int slot) {
    if (slot >= 0 && static_cast<size_t>(slot) < N) slots[slot].state.store(0);
}

void copy_path(char* dst, const std::string& src) { std::memcpy(dst, src.c_str(), src.size() + 1); }

// Temporary files (AtomicFile): unlinked.
struct CleanupSlot {
    std::atomic<int> state{0};
    char path[kCleanupPathMax];
};
CleanupSlot g_cleanup[256];

// Output image folders (OutputDir): their frame images are removed, then the folders the run created.
struct DirSlot {
    std::atomic<int> state{0};
    char path[kCleanupPathMax];
    char top[kCleanupPathMax];  // topmost folder the run created ("" when the folder existed)
    char ext[16];
};
DirSlot g_dir_cleanup[32];

// Temporary folders (TempDir): removed whole, last.
struct TreeSlot {
    std::atomic<int> state{0};
    char path[kCleanupPathMax];
};
TreeSlot g_tree_cleanup[8];

int register_dir_cleanup(const std::string& path, const std::string& ext, const std::string& top) {
    if (path.size() >= kCleanupPathMax || top.size() >= kCleanupPathMax || ext.size() >= sizeof DirSlot::ext) return -1;
    return claim_slot(g_dir_cleanup, [&](DirSlot& s) {
        copy_path(s.path, path);
        copy_path(s.top, top);
        copy_path(s.ext, ext);
    });
}

int register_tree_cleanup(const std::string& path) {
    if (path.size() >= kCleanupPathMax) return -1;
    return claim_slot(g_tree_cleanup, [&](TreeSlot& s) { copy_path(s.path, path); });
}

void remove_registered_outputs() {
    for (auto& s : g_cleanup)
        if (s.state.load() == 2) ::unlink(s.path);
    for (int i = static_cast<int>(std::size(g_dir_cleanup)) - 1; i >= 0; --i)  // nested folders after their parents
        if (g_dir_cleanup[i].state.load() == 2)
            remove_frame_files_safe(g_dir_cleanup[i].path, g_dir_cleanup[i].ext, g_dir_cleanup[i].top);
    for (auto& t : g_tree_cleanup)
        if (t.state.load() == 2) remove_tree_safe(t.path);
}

extern "C" void ned_on_fatal_signal(int sig) {
    remove_registered_outputs();
    const char* msg = sig == SIGINT    ? "ned: interrupted (SIGINT); temporary outputs removed\n"
                      : sig == SIGTERM ? "ned: terminated (SIGTERM); temporary outputs removed\n"
                                       : "ned: stopped by a signal; temporary outputs removed\n";
    const ssize_t ignored = ::write(2, msg, std::strlen(msg));
    (void)ignored;
    ::_exit(128 + sig);
}
}  // namespace

int register_cleanup(const std::string& path) {
    std::error_code ec;
    const std::string abs = fs::absolute(path, ec).string();
    if (ec || abs.size() >= kCleanupPathMax) return -1;
    return claim_slot(g_cleanup, [&](CleanupSlot& s) { copy_path(s.path, abs); });
}

void unregister_cleanup(int slot) { release_slot(g_cleanup, slot); }

void exit_now(const std::string& line, int code) {
    remove_registered_outputs();
    const std::string msg = line + "\n";
    const ssize_t ignored = ::write(2, msg.data(), msg.size());
    (void)ignored;
    ::_exit(code);
}

void install_signal_cleanup() {
    struct sigaction sa {};
    sa.sa_handler = ned_on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

AtomicFile::AtomicFile(std::string path, bool overwrite) : path_(std::move(path)) {
    check_output_path(path_, overwrite);
    fs::path p(path_);
    std::random_device rd;
    std::string tag = std::to_string(::getpid()) + "-" + std::to_string(rd() % 100000);
    fs::path tmp = p.parent_path() / ("." + p.stem().string() + ".tmp-" + tag + p.extension().string());
    temp_ = tmp.string();
    cleanup_slot_ = register_cleanup(temp_);
}

AtomicFile::~AtomicFile() {
    if (!committed_) {
        std::error_code ec;
        fs::remove(temp_, ec);
    }
    unregister_cleanup(cleanup_slot_);
}

void AtomicFile::commit() {
    std::error_code ec;
    fs::rename(temp_, path_, ec);
    if (ec) throw IoError(cat(path_, ": cannot rename temporary file into place: ", ec.message()));
    committed_ = true;
    unregister_cleanup(cleanup_slot_);
    cleanup_slot_ = -1;
}

bool is_frame_file_name(const char* name, const char* ext) {
    size_t digits = 0;
    while (name[digits] >= '0' && name[digits] <= '9') ++digits;
    return digits >= 6 && std::strcmp(name + digits, ext) == 0;
}

namespace {
// AtomicFile's temporary name of a frame file: ".NNNNNN.tmp-<pid>-<n><ext>". A writer thread may create one
// after the signal handler has unlinked the registered temporaries; the folder sweep takes it too.
bool is_frame_temp_name(const char* name, const char* ext) {
    if (name[0] != '.') return false;
    size_t digits = 0;
    while (name[1 + digits] >= '0' && name[1 + digits] <= '9') ++digits;
    if (digits < 6 || std::strncmp(name + 1 + digits, ".tmp-", 5) != 0) return false;
    const size_t len = std::strlen(name), el = std::strlen(ext);
    return len > el && std::strcmp(name + len - el, ext) == 0;
}

struct LinuxDirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[1];
};

/// Calls remove(entry) (true: it removed the entry) for every entry of the open folder `fd`, in passes until a
/// pass removes nothing or `max_passes` ran; returns how many it removed. Async-signal-safe (getdents64 into a
/// buffer on the stack, no allocation). Several passes: entries removed while reading may shift the directory
/// stream, and a writer thread may still be finishing a file when a signal arrives.
template <size_t BufBytes, typename RemoveFn>
int remove_entries(int fd, int max_passes, RemoveFn remove) {
    alignas(8) char buf[BufBytes];
    int removed = 0;
    for (int pass = 0; pass < max_passes; ++pass) {
        int in_pass = 0;
        ::lseek(fd, 0, SEEK_SET);
        for (;;) {
            const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
            if (n <= 0) break;
            for (long off = 0; off < n;) {
                const auto* d = reinterpret_cast<const LinuxDirent64*>(buf + off);
                off += d->d_reclen;
                if (remove(*d)) ++in_pass;
            }
        }
        removed += in_pass;
        if (in_pass == 0) break;
    }
    return removed;
}
}  // namespace

int remove_frame_files_safe(const char* dir, const char* ext, const char* top) {
    int removed = 0;
    const int fd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        removed = remove_entries<8192>(fd, 16, [&](const LinuxDirent64& d) {
            return (d.d_type == DT_REG || d.d_type == DT_UNKNOWN) &&
                   (is_frame_file_name(d.d_name, ext) || is_frame_temp_name(d.d_name, ext)) &&
                   ::unlinkat(fd, d.d_name, 0) == 0;
        });
        ::close(fd);
    }
    if (top && *top) {
        char p[kCleanupPathMax];
        const size_t len = std::strlen(dir), top_len = std::strlen(top);
        if (len >= sizeof p || top_len > len || std::strncmp(dir, top, top_len) != 0) return removed;
        std::memcpy(p, dir, len + 1);
        for (;;) {  // dir, then its parents up to top, while they are empty
            if (::rmdir(p) != 0 || std::strlen(p) <= top_len) break;
            char* slash = std::strrchr(p, '/');
            if (!slash || slash == p) break;
            *slash = 0;
            if (std::strlen(p) < top_len) break;
        }
    }
    return removed;
}

namespace {
void remove_tree_at(int dirfd, int depth) {
    if (depth > 16) return;
    remove_entries<4096>(dirfd, 8, [&](const LinuxDirent64& d) {
        const char* name = d.d_name;
        if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) return false;
        if (::unlinkat(dirfd, name, 0) == 0) return true;
        const int sub = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) return false;
        remove_tree_at(sub, depth + 1);
        ::close(sub);
        return ::unlinkat(dirfd, name, AT_REMOVEDIR) == 0;
    });
}
}  // namespace

void remove_tree_safe(const char* dir) {
    const int fd = ::open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    remove_tree_at(fd, 0);
    ::close(fd);
    ::rmdir(dir);
}

TempDir::TempDir(const std::string& prefix) {
    std::error_code ec;
    const fs::path base = fs::temp_directory_path(ec);
    if (ec) throw IoError(cat("cannot find the temporary folder: ", ec.message()));
    std::string tmpl = (base / (prefix + "-XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) throw IoError(cat("cannot create a temporary folder in ", base.string()));
    path_ = fs::absolute(tmpl, ec).string();
    slot_ = register_tree_cleanup(path_);
}

TempDir::~TempDir() {
    release_slot(g_tree_cleanup, slot_);
    std::error_code ec;
    fs::remove_all(path_, ec);
}

OutputDir::OutputDir(std::string path, bool overwrite, std::string ext, const std::string& what)
    : path_(std::move(path)), ext_(std::move(ext)) {
    if (path_.empty()) throw InputError(what + ": empty path");
    std::error_code ec;
    fs::path abs = fs::absolute(path_, ec).lexically_normal();
    if (abs.filename().empty()) abs = abs.parent_path();  // "a/b/" -> "a/b"
    abs_ = abs.string();
    if (fs::exists(abs, ec)) {
        if (!fs::is_directory(abs, ec)) throw InputError(cat(what, " ", path_, ": exists and is not a folder"));
        bool has_frames = false;
        for (const auto& e : fs::directory_iterator(abs, ec))
            if (is_frame_file_name(e.path().filename().c_str(), ext_.c_str())) has_frames = true;
        if (has_frames && !overwrite)
            throw InputError(cat(what, " ", path_, " already holds frame images (use -y to overwrite)"));
        if (::access(abs_.c_str(), W_OK) != 0) throw InputError(cat(what, " ", path_, ": folder is not writable"));
        remove_frame_files_safe(abs_.c_str(), ext_.c_str(), nullptr);  // stale frames of an earlier run
    } else {
        fs::path top = abs;
        while (top.has_parent_path() && top.parent_path() != top && !fs::exists(top.parent_path(), ec))
            top = top.parent_path();
        fs::create_directories(abs, ec);
        if (ec || !fs::is_directory(abs))
            throw IoError(cat("cannot create ", what, " ", path_, ": ", ec ? ec.message() : "not a folder"));
        created_top_ = top.string();
    }
    slot_ = register_dir_cleanup(abs_, ext_, created_top_);
}

OutputDir::~OutputDir() {
    if (!committed_) remove_frame_files_safe(abs_.c_str(), ext_.c_str(), created_top_.c_str());
    release_slot(g_dir_cleanup, slot_);
}

void OutputDir::commit() {
    committed_ = true;
    release_slot(g_dir_cleanup, slot_);
    slot_ = -1;
}

OutputDirs::~OutputDirs() {
    while (!dirs_.empty()) dirs_.pop_back();
}

const std::string& OutputDirs::add(std::string path, bool overwrite, std::string ext, const std::string& what) {
    dirs_.push_back(std::make_unique<OutputDir>(std::move(path), overwrite, std::move(ext), what));
    return dirs_.back()->path();
}

void OutputDirs::commit() {
    for (auto& d : dirs_) d->commit();
}

std::string frame_name(long index, const std::string& ext) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%06ld", index);
    return buf + ext;
}

void remove_files_with_extension(const std::string& dir, const std::string& ext) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && e.path().extension() == ext) fs::remove(e.path());
}

bool has_files_with_extension(const std::string& dir, const std::string& ext) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return false;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && e.path().extension() == ext) return true;
    return false;
}

}  // namespace ned
