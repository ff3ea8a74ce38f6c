// `ned eval` speed and values on the shared clips (docs/performance.md "ned eval"):
//   bench_eval ORIGINAL EDITED [max_frames=0] [threads=0]
// prints the report summary (frames/s included) and the JSON without the per-frame arrays.
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "ned/core/log.hpp"
#include "ned/eval/eval.hpp"

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s ORIGINAL EDITED [max_frames] [threads]\n", argv[0]);
        return 2;
    }
    ned::log::setup(-1);
    ned::eval::EvalOptions o;
    o.max_frames = argc > 3 ? std::atol(argv[3]) : 0;
    o.threads = argc > 4 ? std::atoi(argv[4]) : 0;
    try {
        const auto r = ned::eval::evaluate(argv[1], argv[2], o);
        std::cout << r.summary() << r.to_json(false).dump(1) << std::endl;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
