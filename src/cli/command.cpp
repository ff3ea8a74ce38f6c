#include "command.hpp"

#include <algorithm>
#include <map>
#include <thread>
#include <tuple>

namespace ned::cli {
namespace {
struct Entry {
    std::string name;
    SetupFn fn;
    int order;
};
std::vector<Entry>& entries() {
    static std::vector<Entry> e;
    return e;
}
std::map<CLI::App*, std::function<void()>>& runners() {
    static std::map<CLI::App*, std::function<void()>> r;
    return r;
}
}  // namespace

bool register_command(const char* name, SetupFn fn, int order) {
    entries().push_back({name, fn, order});
    return true;
}

std::vector<std::pair<std::string, SetupFn>> registered_commands() {
    auto e = entries();
    std::sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) {
        return std::tie(a.order, a.name) < std::tie(b.order, b.name);
    });
    std::vector<std::pair<std::string, SetupFn>> out;
    for (auto& x : e) out.emplace_back(x.name, x.fn);
    return out;
}

void set_runner(CLI::App* sub, std::function<void()> run) { runners()[sub] = std::move(run); }

std::function<void()> runner_for(CLI::App* sub) {
    auto it = runners().find(sub);
    return it == runners().end() ? std::function<void()>() : it->second;
}

int resolve_threads(int requested) {
    if (requested > 0) return requested;
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace ned::cli
