#include "ned/core/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include "ned/core/log.hpp"

namespace ned {
namespace {
bool g_enabled = true;

// "3.2/s" or, for slow work (training), "4.1 s/it"
std::string rate_text(double rate) {
    char b[32];
    if (rate >= 1 || rate <= 0)
        std::snprintf(b, sizeof b, "%.1f/s", rate);
    else
        std::snprintf(b, sizeof b, "%.2f s/it", 1.0 / rate);
    return b;
}

// "42s", "12m05s", "3h07m"
std::string duration_text(double s) {
    char b[32];
    const long v = static_cast<long>(s + 0.5);
    if (v < 60)
        std::snprintf(b, sizeof b, "%lds", v);
    else if (v < 3600)
        std::snprintf(b, sizeof b, "%ldm%02lds", v / 60, v % 60);
    else
        std::snprintf(b, sizeof b, "%ldh%02ldm", v / 3600, (v % 3600) / 60);
    return b;
}
}  // namespace
void set_progress_enabled(bool on) { g_enabled = on; }
bool progress_enabled() { return g_enabled; }

ProgressBar::ProgressBar(std::string label, long total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled && g_enabled), tty_(::isatty(2) != 0) {
    start_ = last_draw_ = std::chrono::steady_clock::now();
}

ProgressBar::~ProgressBar() {
    if (!finished_ && done_ > 0) finish();
}

void ProgressBar::set_total(long total) {
    std::lock_guard<std::mutex> lock(mutex_);
    total_ = total;
}

void ProgressBar::update(long done) {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = done;
    draw(false);
}

void ProgressBar::finish() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    finished_ = true;
    draw(true);
}

ProgressFn ProgressBar::fn() {
    return [this](long done, long total) {
        if (total > 0 && total != total_) set_total(total);
        update(done);
    };
}

void ProgressBar::draw(bool final) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? done_ / secs : 0.0;
    if (tty_) {
        if (!final && now - last_draw_ < std::chrono::milliseconds(100)) return;
        last_draw_ = now;
        char buf[256];
        if (total_ > 0) {
            const int width = 30;
            const double frac = std::min(1.0, static_cast<double>(done_) / total_);
            const int fill = static_cast<int>(frac * width);
            std::string bar(fill, '#');
            bar.resize(width, '.');
            const double eta = rate > 0 ? (total_ - done_) / rate : 0.0;
            std::snprintf(buf, sizeof buf, "\r%-12s [%s] %5.1f%% %ld/%ld  %s  eta %s ", label_.c_str(), bar.c_str(),
                          frac * 100.0, done_, total_, rate_text(rate).c_str(), duration_text(eta).c_str());
        } else {
            std::snprintf(buf, sizeof buf, "\r%-12s %ld  %s ", label_.c_str(), done_, rate_text(rate).c_str());
        }
        std::fputs(buf, stderr);
        if (final) std::fputs("\n", stderr);
        std::fflush(stderr);
    } else if (total_ > 0) {
        const int decile = static_cast<int>(10.0 * done_ / total_);
        if (decile != last_decile_ || final) {
            if (decile == last_decile_ && final) return;
            last_decile_ = decile;
            const double eta = rate > 0 ? (total_ - done_) / rate : 0.0;
            NED_LOG_INFO("[{}] {}/{} ({:.0f}%), {}, eta {}", label_, done_, total_, 100.0 * done_ / total_,
                         rate_text(rate), duration_text(eta));
        }
    } else if (final) {
        NED_LOG_INFO("[{}] {} done, {}", label_, done_, rate_text(rate));
    }
}

}  // namespace ned
