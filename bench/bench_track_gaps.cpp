// Detector drop-outs on real clips, to choose --max-gap (docs/decisions.md, docs/performance.md).
// For each video: build the track with an unbounded --max-gap (the target is never dropped, so segments
// end only at cuts) and list the runs of frames without a target detection between two detections of the
// same segment.
// Usage: bench_track_gaps VIDEO...
#include <cstdio>
#include <map>
#include <string>

#include "ned/track/face_tracker.hpp"

int main(int argc, char** argv) {
    std::map<long, long> hist;  // gap length (frames) -> count, over all videos
    for (int a = 1; a < argc; ++a) {
        ned::track::TrackOptions o;
        o.max_gap_s = 3600.f;
        const auto track = ned::track::build_track(argv[a], o);
        const long T = static_cast<long>(track.frames.size());
        long longest = 0, gaps = 0, missed = 0, last_det = -1;
        for (long t = 0; t < T; ++t) {
            if (track.frames[t].shot_start) last_det = -1;
            if (!track.frames[t].detected) continue;
            if (last_det >= 0 && t - last_det > 1) {
                const long len = t - last_det - 1;
                ++hist[len];
                ++gaps;
                missed += len;
                longest = std::max(longest, len);
            }
            last_det = t;
        }
        const double fps = track.fps_den > 0 ? double(track.fps_num) / track.fps_den : 0;
        std::printf(
            "%s: %ld frames at %.2f fps, %ld drop-outs inside shots (%ld frames), longest %ld frames "
            "(%.2f s)\n",
            argv[a], T, fps, gaps, missed, longest, fps > 0 ? longest / fps : 0.0);
    }
    std::printf("drop-out length histogram (frames: count):");
    for (const auto& [len, n] : hist) std::printf(" %ld:%ld", len, n);
    std::printf("\n");
    return 0;
}
