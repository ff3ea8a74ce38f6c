// `ned probe VIDEO`: stream information as JSON on stdout (container, duration, the video stream with its
// exact frame rate, time base, rotation and frame count, every audio stream).
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

#include "command.hpp"
#include "ned/io/video.hpp"

namespace ned::cli {
namespace {

struct ProbeCliOptions {
    std::string video;
    bool no_count = false;
};

nlohmann::ordered_json rational(const io::Rational& r) { return {{"num", r.num}, {"den", r.den}}; }

nlohmann::ordered_json to_json(const io::VideoInfo& info) {
    nlohmann::ordered_json audio = nlohmann::ordered_json::array();
    for (const auto& a : info.audio) {
        audio.push_back({{"index", a.index},
                         {"codec", a.codec},
                         {"sample_rate", a.sample_rate},
                         {"channels", a.channels},
                         {"bit_rate", a.bit_rate}});
    }
    return {{"path", info.path},
            {"container", info.container},
            {"duration_s", info.duration_s},
            {"video",
             {{"index", info.stream_index},
              {"codec", info.codec},
              {"width", info.width},
              {"height", info.height},
              {"display_width", info.display_width},
              {"display_height", info.display_height},
              {"rotation", info.rotation},
              {"frame_rate", rational(info.frame_rate)},
              {"time_base", rational(info.time_base)},
              {"start_pts", info.start_pts},
              {"frame_count", info.frame_count},
              {"frame_count_exact", info.frame_count_exact},
              {"pix_fmt", info.pix_fmt}}},
            {"audio", audio}};
}

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<ProbeCliOptions>();
    CLI::App* sub = app.add_subcommand("probe",
                                       "Print the streams of a video as JSON (codec, size, rotation, "
                                       "exact frame rate and time base, frame count, audio streams)");
    sub->add_option("VIDEO", o->video, "Input video (any format FFmpeg reads)")->required();
    sub->add_flag("--no-count", o->no_count,
                  "Do not demux the file to count its frames; frame_count is then the container's estimate "
                  "(frame_count_exact: false)");
    sub->footer(
        "Output: JSON on stdout. Exit codes: 0 ok, 2 missing/unreadable/truncated file, no video stream, "
        "or no frames.");
    set_inputs(sub, [o] { return std::vector<std::pair<std::string, std::string>>{{o->video, "input video"}}; });
    set_runner(sub, [o] {
        const io::VideoInfo info = io::probe(o->video, !o->no_count);
        std::cout << to_json(info).dump(2) << std::endl;
    });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(probe, ned::cli::setup, 10);
