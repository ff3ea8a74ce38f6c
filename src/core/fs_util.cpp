#include "ned/core/fs_util.hpp"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <vector>

#include "ned/core/error.hpp"

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
// Cleanup registry readable from a signal handler: fixed slots, lock-free atomics, no allocation.
constexpr int kCleanupSlots = 256;
constexpr size_t kCleanupPathMax = 4096;
struct CleanupSlot {
    std::atomic<int> state{0};  // 0 free, 1 being filled, 2 armed
    char path[kCleanupPathMax];
};
CleanupSlot g_cleanup[kCleanupSlots];

extern "C" void ned_on_fatal_signal(int sig) {
    for (auto& s : g_cleanup)
        if (s.state.load() == 2) ::unlink(s.path);
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
    for (int i = 0; i < kCleanupSlots; ++i) {
        int expected = 0;
        if (g_cleanup[i].state.compare_exchange_strong(expected, 1)) {
            std::memcpy(g_cleanup[i].path, abs.c_str(), abs.size() + 1);
            g_cleanup[i].state.store(2);
            return i;
        }
    }
    return -1;
}

void unregister_cleanup(int slot) {
    if (slot >= 0 && slot < kCleanupSlots) g_cleanup[slot].state.store(0);
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
