#include "command.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
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
std::map<CLI::App*, InputsFn>& input_fns() {
    static std::map<CLI::App*, InputsFn> r;
    return r;
}
std::map<CLI::App*, OutputsFn>& output_fns() {
    static std::map<CLI::App*, OutputsFn> r;
    return r;
}
std::map<const CLI::App*, std::vector<std::pair<std::string, std::string>>>& field_tables() {
    static std::map<const CLI::App*, std::vector<std::pair<std::string, std::string>>> r;
    return r;
}
std::map<const CLI::Option*, std::vector<std::string>>& enum_tables() {
    static std::map<const CLI::Option*, std::vector<std::string>> r;
    return r;
}
}  // namespace

void forget_apps() {
    runners().clear();
    input_fns().clear();
    output_fns().clear();
    field_tables().clear();
    enum_tables().clear();
}

void map_fields(CLI::App* app, const std::vector<std::pair<std::string, std::string>>& fields) {
    auto& table = field_tables()[app];
    for (const auto& [field, flag] : fields)
        if (app->get_option_no_throw(flag) != nullptr) table.emplace_back(field, flag);
}

std::vector<std::pair<std::string, std::string>> fields_of(const CLI::App* app) {
    auto it = field_tables().find(app);
    return it == field_tables().end() ? std::vector<std::pair<std::string, std::string>>{} : it->second;
}

std::string flag_for_field(const CLI::App* app, const std::string& field) {
    for (; app != nullptr; app = app->get_parent())
        for (const auto& [f, flag] : fields_of(app)) {
            // "*::device": the field `device` of any options struct
            const bool any = f.rfind("*::", 0) == 0 && field.size() > f.size() - 1 &&
                             field.compare(field.size() - (f.size() - 1), std::string::npos, f, 1) == 0;
            if (f == field || any) return flag;
        }
    return {};
}

std::string option_error_message(const OptionError& e, const CLI::App* app) {
    const std::string flag = flag_for_field(app, e.field());
    return flag.empty() ? std::string(e.what()) : flag + e.detail();
}

void record_enum_values(const CLI::Option* opt, std::vector<std::string> values) {
    enum_tables()[opt] = std::move(values);
}

std::vector<std::string> enum_values(const CLI::Option* opt) {
    auto it = enum_tables().find(opt);
    return it == enum_tables().end() ? std::vector<std::string>{} : it->second;
}

bool register_command(const char* name, SetupFn fn, int order) {
    entries().push_back({name, fn, order});
    return true;
}

std::vector<std::pair<std::string, SetupFn>> registered_commands() {
    auto e = entries();
    std::sort(e.begin(), e.end(),
              [](const Entry& a, const Entry& b) { return std::tie(a.order, a.name) < std::tie(b.order, b.name); });
    std::vector<std::pair<std::string, SetupFn>> out;
    for (auto& x : e) out.emplace_back(x.name, x.fn);
    return out;
}

void set_runner(CLI::App* sub, std::function<void()> run) { runners()[sub] = std::move(run); }

std::function<void()> runner_for(CLI::App* sub) {
    auto it = runners().find(sub);
    return it == runners().end() ? std::function<void()>() : it->second;
}

void set_inputs(CLI::App* sub, InputsFn inputs) { input_fns()[sub] = std::move(inputs); }

std::vector<std::pair<std::string, std::string>> inputs_for(CLI::App* sub) {
    auto it = input_fns().find(sub);
    if (it == input_fns().end() || !it->second) return {};
    return it->second();
}

void set_outputs(CLI::App* sub, OutputsFn outputs) { output_fns()[sub] = std::move(outputs); }

std::vector<std::pair<std::string, std::string>> outputs_for(CLI::App* sub) {
    auto it = output_fns().find(sub);
    if (it == output_fns().end() || !it->second) return {};
    return it->second();
}

CLI::Validator uint64_text() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
                return "'" + text + "' is not an unsigned integer";
            errno = 0;
            std::strtoull(text.c_str(), nullptr, 10);
            if (errno == ERANGE) return "'" + text + "' is larger than 18446744073709551615";
            return {};
        },
        "UINT64");
}

CLI::Validator finite_range(double lo, double hi) {
    return CLI::Validator(
        [lo, hi](std::string& text) -> std::string {
            char* end = nullptr;
            const double v = std::strtod(text.c_str(), &end);
            if (text.empty() || end == text.c_str() || *end != '\0') return "'" + text + "' is not a number";
            if (!std::isfinite(v) || v < lo || v > hi)
                return "value " + text + " is not a finite number in [" + CLI::detail::to_string(lo) + ", " +
                       CLI::detail::to_string(hi) + "]";
            return {};
        },
        "FINITE in [" + CLI::detail::to_string(lo) + ", " + CLI::detail::to_string(hi) + "]");
}

CLI::Validator device_spec() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            if (text == "auto" || text == "cpu" || text == "cuda") return {};
            if (text.rfind("cuda:", 0) == 0 && text.size() > 5 &&
                text.find_first_not_of("0123456789", 5) == std::string::npos && text.size() < 9)
                return {};
            return "'" + text + "' is not a device (expected auto, cpu, cuda or cuda:N)";
        },
        "auto|cpu|cuda|cuda:N");
}

int max_threads() { return static_cast<int>(std::max(16u, 4 * std::thread::hardware_concurrency())); }

int resolve_threads(int requested) {
    if (requested > 0) return std::min(requested, max_threads());
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace ned::cli
