#include "support/test_support.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_paths.hpp"

namespace fs = std::filesystem;

namespace ned::test {

std::string data_dir() {
    const char* env = std::getenv("NED_TEST_DATA_DIR");
    std::string d = env && *env ? env : NED_TEST_DATA_DIR_DEFAULT;
    std::error_code ec;
    if (!fs::is_directory(d, ec)) return {};
    return fs::canonical(d, ec).string();
}

std::string yaw_set_dir() {
    const char* env = std::getenv("NED_YAW_SET");
    const std::string d = env && *env ? env : NED_YAW_SET_DEFAULT;
    std::error_code ec;
    if (!fs::is_regular_file(fs::path(d) / "index.json", ec)) return {};
    return fs::canonical(d, ec).string();
}

std::string python_with(const std::string& modules) {
    const std::string cmd = std::string("'") + NED_SOURCE_DIR + "/scripts/find_python.sh' " + modules + " 2>/dev/null";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return {};
    std::string out;
    char buf[512];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    const int rc = ::pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (rc != 0 || out.empty()) return {};
    return "'" + out + "'";
}

bool have_ffmpeg() { return std::system("ffmpeg -hide_banner -version > /dev/null 2>&1") == 0; }

bool run_ffmpeg(const std::string& args) {
    return std::system(("ffmpeg -hide_banner -loglevel error -nostdin -y " + args).c_str()) == 0;
}

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    int port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

std::string data_path(const std::string& rel) {
    auto d = data_dir();
    return d.empty() ? std::string() : d + "/" + rel;
}

std::vector<std::string> shared_videos() {
    std::vector<std::string> out;
    auto d = data_dir();
    if (d.empty()) return out;
    for (const auto& e : fs::recursive_directory_iterator(d + "/video")) {
        if (!e.is_regular_file()) continue;
        auto ext = e.path().extension().string();
        if (ext == ".mp4" || ext == ".mkv" || ext == ".webm" || ext == ".avi" || ext == ".mov")
            out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

TempDir::TempDir() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "_" + info->name() : "test";
    std::replace(name.begin(), name.end(), '/', '_');
    fs::path p = fs::temp_directory_path() /
                 ("ned-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + name);
    fs::create_directories(p);
    path_ = p.string();
}

TempDir::~TempDir() {
    std::error_code ec;
    if (!std::getenv("NED_KEEP_TEST_FILES")) fs::remove_all(path_, ec);
}

std::string ned_binary() { return NED_BINARY_PATH; }

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

namespace {
std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}
}  // namespace

RunResult run_ned(const std::vector<std::string>& args) { return run_ned(args, {}); }

RunResult run_ned(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
    TempDir tmp;
    const std::string out_path = tmp / "stdout", err_path = tmp / "stderr";
    RunResult r;
    // the child's environment, made before fork (the child only calls async-signal-safe functions)
    std::vector<std::string> vars;
    for (char** e = environ; *e; ++e) {
        const std::string kv = *e;
        if (!env.count(kv.substr(0, kv.find('=')))) vars.push_back(kv);
    }
    for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& kv : vars) envp.push_back(kv.data());
    envp.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        int fo = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fo, 1);
        ::dup2(fe, 2);
        std::vector<char*> argv;
        std::string bin = ned_binary();
        argv.push_back(bin.data());
        std::vector<std::string> copy = args;
        for (auto& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execve(bin.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    return r;
}

}  // namespace ned::test
