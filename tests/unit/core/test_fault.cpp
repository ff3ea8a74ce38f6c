// Fault points (ned/core/fault.hpp): nothing without a handler; the caller's handler sees each point's name and
// count, and may stop the operation by throwing.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ned/core/fault.hpp"

namespace {
struct HandlerGuard {  // the handler is process-wide: removed whatever the test does
    ~HandlerGuard() { ned::set_fault_handler({}); }
};
}  // namespace

TEST(FaultPoint, NothingHappensWithoutAHandler) {
    ned::set_fault_handler({});
    EXPECT_NO_THROW(ned::fault_point("train.step"));
    EXPECT_NO_THROW(ned::fault_point("render.frames_done", 3));
}

TEST(FaultPoint, TheCallersHandlerSeesNameAndCountAndMayThrow) {
    HandlerGuard guard;
    std::vector<std::pair<std::string, int64_t>> seen;
    ned::set_fault_handler([&](const char* name, int64_t count) {
        seen.emplace_back(name, count);
        if (count >= 2) throw std::runtime_error("cancelled");
    });
    ned::fault_point("train.step");
    ned::fault_point("render.frames_done", 1);
    EXPECT_THROW(ned::fault_point("render.frames_done", 2), std::runtime_error);
    const std::vector<std::pair<std::string, int64_t>> want{
        {"train.step", -1}, {"render.frames_done", 1}, {"render.frames_done", 2}};
    EXPECT_EQ(seen, want);
    ned::set_fault_handler({});
    ned::fault_point("render.frames_done", 5);
    EXPECT_EQ(seen.size(), want.size());
}
