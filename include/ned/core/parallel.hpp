#pragma once
// parallel_for: run fn(i) for i in [0, n) on up to `threads` threads (the caller's thread included),
// indices handed out one at a time. The first exception thrown by fn stops further work and is rethrown.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace ned {

template <typename Fn>
void parallel_for(int64_t n, int threads, Fn&& fn) {
    const int nt = static_cast<int>(std::min<int64_t>(std::max(1, threads), n));
    if (nt <= 1) {
        for (int64_t i = 0; i < n; ++i) fn(i);
        return;
    }
    std::atomic<int64_t> next{0};
    std::exception_ptr err;
    std::mutex mu;
    auto worker = [&] {
        for (int64_t i; (i = next.fetch_add(1)) < n;) {
            try {
                fn(i);
            } catch (...) {
                std::lock_guard<std::mutex> lk(mu);
                if (!err) err = std::current_exception();
                next = n;
            }
        }
    };
    std::vector<std::thread> pool;
    for (int k = 1; k < nt; ++k) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    if (err) std::rethrow_exception(err);
}

}  // namespace ned
