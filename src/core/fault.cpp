// Fault-injection points (include/ned/core/fault.hpp).
#include "ned/core/fault.hpp"

#include <atomic>
#include <memory>
#include <mutex>

namespace ned {
namespace {
std::mutex g_mutex;
std::shared_ptr<std::function<void(const char*)>> g_handler;
std::atomic<bool> g_installed{false};
}  // namespace

void fault_point(const char* name) {
    if (!g_installed.load(std::memory_order_relaxed)) return;
    std::shared_ptr<std::function<void(const char*)>> h;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        h = g_handler;
    }
    if (h && *h) (*h)(name);
}

void set_fault_handler(std::function<void(const char* name)> handler) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_installed = static_cast<bool>(handler);
    g_handler = handler ? std::make_shared<std::function<void(const char*)>>(std::move(handler)) : nullptr;
}

}  // namespace ned
