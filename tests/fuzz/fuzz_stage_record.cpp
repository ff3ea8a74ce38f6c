// libFuzzer target: the pipeline's stage records (WORK/stages/<stage>.json, read by `ned translate` to skip
// finished stages). The input is the record file; it is read the way StageRecords::run reads it: finished()
// (format, key, frames) and, for a finished stage, its "frames". (run() then writes a new record for an
// unfinished stage -- not reading, and slow to fuzz.)
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "ned/core/error.hpp"
#include "pipeline/stage_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string work = "/dev/shm/ned-fuzz-stages-" + std::to_string(::getpid());
    static ned::pipeline::StageRecords records(work);
    const std::string path = records.path("render");
    if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
        if (size) std::fwrite(data, 1, size, f);
        std::fclose(f);
    }
    const nlohmann::json inputs = {{"frames", 3}, {"model", "/x/ned.safetensors"}};
    static const std::string key = ned::pipeline::stage_key("render", inputs);
    try {
        if (records.finished("render", key)) {
            const long frames = records.read("render").value("frames", 0L);
            (void)frames;
        }
    } catch (const ned::Error&) {}
    return 0;
}
