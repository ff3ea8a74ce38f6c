// `ned train-renderer` library side: see include/ned/renderer/train.hpp.
#include "ned/renderer/train.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/image_io.hpp"
#include "ned/core/log.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/detect/alignment.hpp"
#include "ned/detect/crop.hpp"
#include "ned/detect/face_track.hpp"
#include "ned/io/video.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "ned/renderer/losses.hpp"
#include "ned/renderer/render.hpp"
#include "renderer/internal.hpp"

namespace fs = std::filesystem;

namespace ned::renderer {
namespace {

constexpr const char* kStateFormat = "ned.renderer.state";
constexpr const char* kCacheFormat = "ned.renderer.cache";
constexpr int kCacheVersion = 1;

// ---------------------------------------------------------------------------------------------------------
// Adam with PyTorch's arithmetic, its state kept as named tensors (saved in state.safetensors).
class Adam {
public:
    Adam(const std::vector<std::pair<std::string, torch::Tensor>>& params, double lr, double b1 = 0.5, double b2 = 0.999)
        : params_(params), lr_(lr), b1_(b1), b2_(b2) {
        for (const auto& [name, p] : params_) {
            m_.push_back(torch::zeros_like(p));
            v_.push_back(torch::zeros_like(p));
        }
    }
    void zero_grad() {
        for (auto& [name, p] : params_)
            if (p.grad().defined()) p.mutable_grad().zero_();
    }
    void step() {
        torch::NoGradGuard ng;
        ++steps_;
        const double bc1 = 1 - std::pow(b1_, static_cast<double>(steps_));
        const double bc2 = 1 - std::pow(b2_, static_cast<double>(steps_));
        for (size_t i = 0; i < params_.size(); ++i) {
            auto& p = params_[i].second;
            if (!p.grad().defined()) continue;
            const auto& g = p.grad();
            m_[i].mul_(b1_).add_(g, 1 - b1_);
            v_[i].mul_(b2_).addcmul_(g, g, 1 - b2_);
            const auto denom = (v_[i].sqrt() / std::sqrt(bc2)).add_(1e-8);
            p.addcdiv_(m_[i], denom, -lr_ / bc1);
        }
    }
    void save(st::File& f, const std::string& prefix) const {
        for (size_t i = 0; i < params_.size(); ++i) {
            f.tensors[prefix + params_[i].first + ".exp_avg"] = from_torch(m_[i].to(torch::kCPU));
            f.tensors[prefix + params_[i].first + ".exp_avg_sq"] = from_torch(v_[i].to(torch::kCPU));
        }
        f.metadata[prefix + "steps"] = std::to_string(steps_);
    }
    void load(const st::File& f, const std::string& prefix) {
        torch::NoGradGuard ng;
        for (size_t i = 0; i < params_.size(); ++i) {
            const std::string n = prefix + params_[i].first;
            m_[i].copy_(to_torch(f.at(n + ".exp_avg")));
            v_[i].copy_(to_torch(f.at(n + ".exp_avg_sq")));
        }
        steps_ = std::stoll(f.meta(prefix + "steps", "0"));
    }

private:
    std::vector<std::pair<std::string, torch::Tensor>> params_;
    std::vector<torch::Tensor> m_, v_;
    int64_t steps_ = 0;
    double lr_, b1_, b2_;
};

std::vector<std::pair<std::string, torch::Tensor>> named(const torch::nn::Module& m, const std::string& prefix) {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& p : m.named_parameters(true)) out.emplace_back(prefix + p.key(), p.value());
    return out;
}

// ---------------------------------------------------------------------------------------------------------
// Prepared footage of one work folder.
struct Actor {
    fs::path workdir, cond_dir, cache_dir;
    int size = 256;
    std::vector<int64_t> frames;                      ///< frames with conditioning and a face, sorted
    std::map<int64_t, std::pair<int, int>> mouth;     ///< aligned mouth centre per frame
};

Actor prepare_actor(const fs::path& workdir, const fs::path& cache_dir) {
    Actor a;
    a.workdir = workdir;
    a.cond_dir = workdir / "conditioning";
    a.cache_dir = cache_dir;
    const std::string track_path = (workdir / "track.safetensors").string();
    check_input_file(track_path, "face track");
    if (!fs::is_directory(a.cond_dir))
        throw InputError(cat("[train-renderer] ", workdir.string(), " has no conditioning/ (run `ned render-inputs` on "
                             "the actor's own reconstruction)"));
    const detect::FaceTrack track = detect::load_track(track_path);
    if (!track.has_analysis) throw InputError(cat("[train-renderer] ", track_path, " has no analysis; run `ned analyze`"));
    a.size = track.crop_size;
    for (int64_t t : detail::conditioning_frames(a.cond_dir))
        if (t >= 0 && t < static_cast<int64_t>(track.frames.size()) && track.frames[t].valid) a.frames.push_back(t);
    std::sort(a.frames.begin(), a.frames.end());
    for (int64_t t : a.frames) {
        std::vector<std::pair<float, float>> pts;
        for (int k = 48; k < 68; ++k) pts.emplace_back(track.frames[t].aligned_landmarks[k].x, track.frames[t].aligned_landmarks[k].y);
        a.mouth[t] = mouth_center(pts);
    }

    // Reuse the cache when it was made from the same work folder and frames.
    const fs::path manifest = cache_dir / "cache.json";
    if (fs::is_regular_file(manifest)) {
        try {
            std::ifstream is(manifest);
            const auto j = nlohmann::json::parse(is);
            if (j.value("format", "") == kCacheFormat && j.value("workdir", "") == fs::absolute(workdir).string() &&
                j.at("frames").get<std::vector<int64_t>>() == a.frames) {
                NED_LOG_INFO("[train-renderer] reusing the prepared frames of {} in {}", workdir.string(), cache_dir.string());
                return a;
            }
        } catch (const nlohmann::json::exception&) {
        }
        fs::remove(manifest);
    }
    NED_LOG_INFO("[train-renderer] preparing {} frames of {} ({})", a.frames.size(), workdir.string(), track.source);
    fs::create_directories(cache_dir / "faces");
    fs::create_directories(cache_dir / "masks");
    const std::set<int64_t> want(a.frames.begin(), a.frames.end());
    io::VideoReader reader(track.source);
    io::Frame fr;
    while (reader.read(fr)) {
        if (!want.count(fr.index)) continue;
        const auto& ff = track.frames[fr.index];
        cv::Mat crop_mask, aligned_mask;
        detail::analysis_masks(track, workdir, fr.index, crop_mask, aligned_mask);
        cv::Mat face = detect::warp_to_aligned(detect::extract_crop(fr.bgr, ff, a.size), ff.align);
        face.setTo(cv::Scalar::all(0), aligned_mask == 0);  // NED's align.py zeroes the face outside the mask
        detail::write_png(cache_dir / "faces" / frame_name(fr.index, ".png"), face);
        detail::write_png(cache_dir / "masks" / frame_name(fr.index, ".png"), aligned_mask);
    }
    for (int64_t t : a.frames)
        if (!fs::is_regular_file(cache_dir / "faces" / frame_name(t, ".png")))
            throw InputError(cat("[train-renderer] frame ", t, " of ", track.source, " could not be decoded"));
    nlohmann::json j;
    j["format"] = kCacheFormat;
    j["version"] = kCacheVersion;
    j["workdir"] = fs::absolute(workdir).string();
    j["frames"] = a.frames;
    AtomicFile f(manifest.string(), true);
    {
        std::ofstream os(f.temp_path());
        os << j.dump() << "\n";
    }
    f.commit();
    return a;
}

struct FrameData {
    torch::Tensor cond;  ///< [9,S,S] in [0,1]
    torch::Tensor real;  ///< [3,S,S] in [-1,1]
    torch::Tensor mask;  ///< [1,S,S] 0/1
    std::pair<int, int> mouth;
};

FrameData load_frame(const Actor& a, int64_t t) {
    const std::string name = frame_name(t, ".png");
    FrameData d;
    d.cond = conditioning_tensor(detail::read_image(a.cond_dir / "nmfc" / name, cv::IMREAD_COLOR, a.size, "NMFC image"),
                                 detail::read_image(a.cond_dir / "eyes" / name, cv::IMREAD_COLOR, a.size, "eye image"),
                                 detail::read_image(a.cond_dir / "shape" / name, cv::IMREAD_COLOR, a.size, "shape image"));
    cv::Mat face = detail::read_image(a.cache_dir / "faces" / name, cv::IMREAD_COLOR, a.size, "prepared face");
    cv::cvtColor(face, face, cv::COLOR_BGR2RGB);
    d.real = mat_to_tensor(face, 2.0 / 255.0) - 1.0;
    d.mask = mask_tensor(detail::read_image(a.cache_dir / "masks" / name, cv::IMREAD_GRAYSCALE, a.size, "prepared mask"))[0];
    d.mouth = a.mouth.at(t);
    return d;
}

/// A training sub-sequence: consecutive frames of one actor.
struct Item {
    int actor = 0;
    std::vector<int64_t> frames;
};

uint64_t mix(uint64_t a, uint64_t b) {  // splitmix64 of a combination: independent streams per (seed, epoch, ...)
    uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

std::string hexf(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%a", v);
    return buf;
}

const char* const kLossNames[] = {"G_GAN", "G_GAN_Feat", "G_VGG", "Gm_GAN", "Gm_GAN_Feat", "D_real", "D_fake", "Dm_real", "Dm_fake"};
constexpr int kNumLosses = 9;

}  // namespace

TrainResult train_renderer(const TrainOptions& o, const ProgressFn& progress) {
    if (o.actors.empty()) throw InputError("[train-renderer] give at least one prepared work folder of the actor");
    if (o.out.empty()) throw InputError("[train-renderer] --out is required");
    if (o.epochs < 1 || o.batch_size < 1 || o.clip_frames < 1 || o.window < 1 || o.subsequence < 3 || o.ngf < 1)
        throw InputError("[train-renderer] --epochs, --batch-size, clip and window sizes and --ngf must be positive");
    if (o.vgg.empty() && !o.no_vgg)
        throw ModelError("[train-renderer] the VGG19 perceptual loss needs --vgg models/vgg19.safetensors (convert "
                         "torchvision's weights with scripts/convert_vgg19.py), or give --no-vgg (lower quality)");
    const fs::path out(o.out);
    const fs::path state_path = out / "state.safetensors";
    if (o.resume && !fs::is_regular_file(state_path))
        throw InputError(cat("[train-renderer] --resume: ", state_path.string(), " does not exist"));
    if (!o.resume && fs::exists(state_path) && !o.overwrite)
        throw InputError(cat("[train-renderer] ", out.string(), " holds a previous run (use --resume to continue it or -y "
                             "to start over)"));
    fs::create_directories(out / "preview");
    const torch::Device device = resolve_device(o.device);

    // ---- data ----
    std::vector<Actor> actors;
    for (size_t i = 0; i < o.actors.size(); ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "%02d", static_cast<int>(i));
        actors.push_back(prepare_actor(o.actors[i], out / "cache" / name));
        if (actors.back().size != actors.front().size)
            throw InputError("[train-renderer] the work folders have different crop sizes");
    }
    const int S = actors.front().size;
    // segments = runs of consecutive frames; validation = the end of the longest segment
    std::vector<Item> segments;
    for (size_t ai = 0; ai < actors.size(); ++ai)
        for (const FrameStep& s : plan_steps(actors[ai].frames)) {
            if (s.restart) segments.push_back({static_cast<int>(ai), {}});
            segments.back().frames.push_back(s.frame);
        }
    Item val;
    if (o.val_frames > 0 && !segments.empty()) {
        auto longest = std::max_element(segments.begin(), segments.end(),
                                         [](const Item& a, const Item& b) { return a.frames.size() < b.frames.size(); });
        if (static_cast<int>(longest->frames.size()) >= o.val_frames + 6) {
            val.actor = longest->actor;
            val.frames.assign(longest->frames.end() - o.val_frames, longest->frames.end());
            longest->frames.resize(longest->frames.size() - o.val_frames);
        } else {
            NED_LOG_WARN("[train-renderer] no segment is long enough to hold out {} validation frames; no validation",
                         o.val_frames);
        }
    }
    std::vector<Item> items;
    for (const Item& seg : segments)
        for (size_t i = 0; i < seg.frames.size(); i += o.subsequence) {
            Item it{seg.actor, {}};
            it.frames.assign(seg.frames.begin() + i, seg.frames.begin() + std::min(seg.frames.size(), i + o.subsequence));
            if (it.frames.size() >= 3) items.push_back(std::move(it));
        }
    if (items.empty()) throw InputError("[train-renderer] no run of at least 3 consecutive frames to train on");
    const int64_t batches = (static_cast<int64_t>(items.size()) + o.batch_size - 1) / o.batch_size;

    // ---- networks ----
    torch::manual_seed(o.seed);
    Generator G{nullptr};
    MultiscaleDiscriminator D{nullptr}, Dm{nullptr};
    std::string init_note = "scratch";
    st::File state_file;
    if (o.resume) {
        state_file = st::load(state_path.string(), st::Role::Model);
        state_file.require_format(kStateFormat, 1);
        RendererNets nets = renderer_from_file(state_file, torch::kCPU, true);
        G = nets.generator;
        D = nets.discriminator;
        Dm = nets.mouth_discriminator;
        if (D.is_empty() || Dm.is_empty()) throw InputError(cat("[train-renderer] ", state_path.string(), " has no discriminators"));
        init_note = nets.metadata.count("init") ? nets.metadata.at("init") : "resumed";
    } else if (!o.init_from.empty()) {
        RendererNets nets = load_renderer(o.init_from, torch::kCPU, true);
        G = nets.generator;
        D = nets.discriminator;
        Dm = nets.mouth_discriminator;
        init_note = o.init_from;
    } else {
        GeneratorConfig gc;
        gc.ngf = o.ngf;
        gc.n_blocks = o.n_blocks;
        G = Generator(gc);
        init_weights(*G);
    }
    DiscriminatorConfig dc;
    dc.ndf = o.ndf;
    if (D.is_empty()) {
        D = MultiscaleDiscriminator(dc);
        init_weights(*D);
    }
    if (Dm.is_empty()) {
        Dm = MultiscaleDiscriminator(D->cfg);
        init_weights(*Dm);
    }
    G->to(device);
    D->to(device);
    Dm->to(device);
    G->train();
    D->train();
    Dm->train();
    const bool fine_tune = !o.init_from.empty() || init_note != "scratch";
    const double lr = o.lr > 0 ? o.lr : (fine_tune ? 4e-5 : 2e-4);
    Adam optG(named(*G, "generator."), lr);
    auto dparams = named(*D, "discriminator.");
    for (auto& p : named(*Dm, "mouth_discriminator.")) dparams.push_back(p);
    Adam optD(dparams, lr);
    Vgg19Features vgg{nullptr};
    if (!o.no_vgg) vgg = load_vgg19(o.vgg, device);
    else NED_LOG_WARN("[train-renderer] --no-vgg: training without the VGG19 perceptual loss (lower quality)");

    int start_epoch = 0;
    int64_t start_batch = 0, steps = 0;
    double sums[kNumLosses] = {0};
    int64_t windows_in_epoch = 0;
    if (o.resume) {
        const st::File& f = state_file;
        optG.load(f, "optim.G.");
        optD.load(f, "optim.D.");
        start_epoch = std::stoi(f.meta("epoch"));
        start_batch = std::stoll(f.meta("batch"));
        steps = std::stoll(f.meta("steps"));
        windows_in_epoch = std::stoll(f.meta("windows_in_epoch", "0"));
        for (int k = 0; k < kNumLosses; ++k) sums[k] = std::strtod(f.meta(cat("sum.", kLossNames[k]), "0").c_str(), nullptr);
        if (f.meta("seed") != std::to_string(o.seed))
            NED_LOG_WARN("[train-renderer] resuming a run made with --seed {} (now {})", f.meta("seed"), o.seed);
        NED_LOG_INFO("[train-renderer] resuming at epoch {} batch {} ({} steps done)", start_epoch + 1, start_batch, steps);
        state_file = st::File();  // free the copy
    }
    NED_LOG_INFO("[train-renderer] G ngf {} ({} parameters), {} sub-sequences, {} batches per epoch, lr {}, init {}",
                 G->cfg.ngf, parameter_count(*G), items.size(), batches, lr, init_note);

    std::map<std::string, std::string> run_meta = {{"init", init_note}, {"seed", std::to_string(o.seed)}};
    auto save_state = [&](int epoch, int64_t batch) {
        st::File f;
        f.metadata = run_meta;
        f.metadata["format"] = kStateFormat;
        f.metadata["version"] = "1";
        f.metadata["epoch"] = std::to_string(epoch);
        f.metadata["batch"] = std::to_string(batch);
        f.metadata["steps"] = std::to_string(steps);
        f.metadata["windows_in_epoch"] = std::to_string(windows_in_epoch);
        for (int k = 0; k < kNumLosses; ++k) f.metadata[cat("sum.", kLossNames[k])] = hexf(sums[k]);
        auto add = [&](const torch::nn::Module& m, const std::string& prefix) {
            for (const auto& p : m.named_parameters(true)) f.tensors[prefix + p.key()] = from_torch(p.value().detach().to(torch::kCPU));
        };
        add(*G, "generator.");
        add(*D, "discriminator.");
        add(*Dm, "mouth_discriminator.");
        optG.save(f, "optim.G.");
        optD.save(f, "optim.D.");
        st::save(state_path.string(), f);
    };

    // ---- validation: sequential rendering of the held-out frames as `ned render` does ----
    auto validate = [&](int epoch, double& l1, double& psnr) {
        l1 = psnr = 0;
        if (val.frames.empty()) return false;
        torch::NoGradGuard ng;
        G->eval();
        const Actor& a = actors[val.actor];
        torch::Tensor prev = torch::zeros({1, 6, S, S}, torch::TensorOptions().device(device));
        std::vector<FrameData> hist;
        double abs_sum = 0, sq_sum = 0, n = 0;
        std::vector<cv::Mat> rows;
        const int P = std::min<int>(o.preview_frames, static_cast<int>(val.frames.size()));
        for (size_t i = 0; i < val.frames.size(); ++i) {
            hist.push_back(load_frame(a, val.frames[i]));  // the last (up to) 3 frames, oldest first
            const size_t h = hist.size();
            const FrameData& c0 = hist[h >= 3 ? h - 3 : 0];
            const FrameData& c1 = hist[h >= 2 ? h - 2 : 0];
            const FrameData& c2 = hist[h - 1];
            const auto cond = torch::cat({c0.cond, c1.cond, c2.cond}).unsqueeze(0).to(device);
            const auto mask = c2.mask.unsqueeze(0).to(device);
            const auto fake = G->forward(cond, prev, mask);
            prev = torch::cat({prev.narrow(1, 3, 3), fake}, 1);
            const auto f8 = ((fake[0].cpu() + 1) / 2 * 255).clamp(0, 255).floor();
            const auto r8 = ((c2.real + 1) / 2 * 255).clamp(0, 255).round();
            const auto m = c2.mask.expand_as(f8) > 0.5;
            abs_sum += (fake[0].cpu() - c2.real).abs().masked_select(m).sum().item<double>();
            sq_sum += (f8 - r8).pow(2).masked_select(m).sum().item<double>();
            n += m.sum().item<double>();
            const bool show = P > 0 && (i == 0 || (P > 1 && i == val.frames.size() - 1) ||
                                        (P > 2 && i == val.frames.size() / 2));
            if (show) {
                cv::Mat nmfc = output_to_image(c2.cond.narrow(0, 0, 3) * 2 - 1);
                cv::Mat row;
                cv::hconcat(std::vector<cv::Mat>{nmfc, output_to_image(c2.real), output_to_image(fake)}, row);
                rows.push_back(row);
            }
            if (hist.size() > 3) hist.erase(hist.begin());
        }
        G->train();
        if (n > 0) {
            l1 = abs_sum / n;
            const double mse = sq_sum / n;
            psnr = mse > 0 ? 10 * std::log10(255.0 * 255.0 / mse) : 99.0;
        }
        if (!rows.empty()) {
            cv::Mat sheet;
            cv::vconcat(rows, sheet);
            char name[32];
            std::snprintf(name, sizeof name, "epoch_%02d.jpg", epoch + 1);
            AtomicFile f((out / "preview" / name).string(), true);
            write_image(f.temp_path(), sheet, "[train-renderer] preview", f.path());
            f.commit();
        }
        return true;
    };

    if (!o.resume) {  // a fresh run: drop the state, checkpoints and logs of an earlier one (the cache stays);
                      // only now, after the inputs and --init-from have loaded
        for (const auto& e : fs::directory_iterator(out)) {
            const std::string n = e.path().filename().string();
            if (n == "state.safetensors" || n == "losses.jsonl" || n == "renderer.safetensors" ||
                (n.rfind("epoch_", 0) == 0 && e.path().extension() == ".safetensors"))
                fs::remove(e.path());
        }
        for (const auto& e : fs::directory_iterator(out / "preview")) fs::remove(e.path());
    }

    // ---- training ----
    const auto t_start = std::chrono::steady_clock::now();
    auto last_save = t_start;
    const int64_t total_batches = static_cast<int64_t>(o.epochs) * batches;
    TrainResult result;
    for (int epoch = start_epoch; epoch < o.epochs; ++epoch) {
        const int n_gen = std::min(o.max_clip_frames, o.clip_frames << std::min(epoch / std::max(1, o.double_every), 16));
        std::vector<size_t> order(items.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::mt19937_64 erng(mix(o.seed, static_cast<uint64_t>(epoch)));
        std::shuffle(order.begin(), order.end(), erng);
        for (int64_t b = (epoch == start_epoch ? start_batch : 0); b < batches; ++b) {
            std::vector<const Item*> batch;
            for (int64_t k = b * o.batch_size; k < std::min<int64_t>((b + 1) * o.batch_size, order.size()); ++k)
                batch.push_back(&items[order[k]]);
            size_t L = static_cast<size_t>(n_gen) + 2;
            for (const Item* it : batch) L = std::min(L, it->frames.size());
            const int B = static_cast<int>(batch.size());
            // clips: a random window of L frames per item, from its own stream (resume-safe)
            std::vector<std::vector<FrameData>> clip(B);
            for (int k = 0; k < B; ++k) {
                std::mt19937_64 crng(mix(mix(o.seed, static_cast<uint64_t>(epoch)), static_cast<uint64_t>(b * 1000 + k)));
                const size_t span = batch[k]->frames.size() - L;
                const size_t off = span ? std::uniform_int_distribution<size_t>(0, span)(crng) : 0;
                for (size_t i = 0; i < L; ++i) clip[k].push_back(load_frame(actors[batch[k]->actor], batch[k]->frames[off + i]));
            }
            auto stack = [&](int64_t t, auto field) {
                std::vector<torch::Tensor> v;
                for (int k = 0; k < B; ++k) v.push_back(field(clip[k][t]));
                return torch::stack(v).to(device);
            };
            torch::Tensor prev = torch::zeros({B, 6, S, S}, torch::TensorOptions().device(device));
            for (size_t w0 = 2; w0 < L; w0 += o.window) {
                std::vector<torch::Tensor> fakes, reals, conds, masks;
                std::vector<std::pair<int, int>> mouths;
                for (size_t t = w0; t < std::min(L, w0 + o.window); ++t) {
                    const auto cond = torch::cat({stack(t - 2, [](const FrameData& d) { return d.cond; }),
                                                  stack(t - 1, [](const FrameData& d) { return d.cond; }),
                                                  stack(t, [](const FrameData& d) { return d.cond; })},
                                                 1);
                    const auto mask = stack(t, [](const FrameData& d) { return d.mask; });
                    const auto fake = G->forward(cond, prev.detach(), mask);
                    prev = torch::cat({prev.narrow(1, 3, 3), fake.detach()}, 1);
                    fakes.push_back(fake);
                    reals.push_back(stack(t, [](const FrameData& d) { return d.real; }));
                    conds.push_back(stack(t, [](const FrameData& d) { return d.cond; }));
                    masks.push_back(mask);
                    for (int k = 0; k < B; ++k) mouths.push_back(clip[k][t].mouth);
                }
                const auto fake = torch::cat(fakes), real = torch::cat(reals), cond = torch::cat(conds);
                // discriminator inputs: [conditioning of frame t (9), image (3)]
                const auto real_ab = torch::cat({cond, real}, 1), fake_ab = torch::cat({cond, fake}, 1);
                const auto pred_real = D->forward(real_ab);
                const auto pred_fake_d = D->forward(fake_ab.detach());
                const auto pred_fake_g = D->forward(fake_ab);
                const int roi = mouth_roi_size(S);
                const auto m_real = crop_roi(real_ab, mouths, roi), m_fake = crop_roi(fake_ab, mouths, roi);
                const auto mpred_real = Dm->forward(m_real);
                const auto mpred_fake_d = Dm->forward(m_fake.detach());
                const auto mpred_fake_g = Dm->forward(m_fake);
                torch::Tensor L_[kNumLosses];
                L_[0] = lsgan_loss(pred_fake_g, true);
                L_[1] = feature_matching_loss(pred_fake_g, pred_real, D->cfg);
                L_[2] = vgg.is_empty() ? torch::zeros({}, fake.options()) : vgg_loss(vgg, fake, real) * 10.0;
                L_[3] = lsgan_loss(mpred_fake_g, true);
                L_[4] = feature_matching_loss(mpred_fake_g, mpred_real, Dm->cfg);
                L_[5] = lsgan_loss(pred_real, true);
                L_[6] = lsgan_loss(pred_fake_d, false);
                L_[7] = lsgan_loss(mpred_real, true);
                L_[8] = lsgan_loss(mpred_fake_d, false);
                const auto loss_g = L_[0] + L_[1] + L_[2] + L_[3] + L_[4];
                const auto loss_d = (L_[5] + L_[6]) * 0.5 + (L_[7] + L_[8]) * 0.5;
                optG.zero_grad();
                loss_g.backward();
                optG.step();
                optD.zero_grad();
                loss_d.backward();
                optD.step();
                for (int k = 0; k < kNumLosses; ++k) sums[k] += L_[k].item<double>();
                ++windows_in_epoch;
                ++steps;
                if (o.stop_after_steps > 0 && steps >= o.stop_after_steps) {
                    NED_LOG_WARN("[train-renderer] stopping abruptly after {} steps (--stop-after-steps)", steps);
                    std::fflush(nullptr);
                    std::_Exit(9);
                }
            }
            if (progress) progress(static_cast<long>(epoch * batches + b + 1), static_cast<long>(total_batches));
            const auto now = std::chrono::steady_clock::now();
            if (std::chrono::duration<double>(now - last_save).count() >= o.save_minutes * 60 && b + 1 < batches) {
                save_state(epoch, b + 1);
                last_save = now;
            }
        }
        // ---- end of epoch ----
        double l1 = 0, psnr = 0;
        const bool has_val = validate(epoch, l1, psnr);
        nlohmann::json j;
        j["epoch"] = epoch + 1;
        j["steps"] = steps;
        j["clip_frames"] = n_gen;
        for (int k = 0; k < kNumLosses; ++k) j[kLossNames[k]] = windows_in_epoch ? sums[k] / windows_in_epoch : 0.0;
        if (has_val) {
            j["val_l1"] = l1;
            j["val_psnr"] = psnr;
        } else {
            j["val_l1"] = nullptr;
            j["val_psnr"] = nullptr;
        }
        j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
        {
            std::ofstream os(out / "losses.jsonl", std::ios::app);
            os << j.dump() << "\n";
            if (!os) throw IoError(cat("[train-renderer] could not write ", (out / "losses.jsonl").string()));
        }
        char name[32];
        std::snprintf(name, sizeof name, "epoch_%02d.safetensors", epoch + 1);
        auto meta = run_meta;
        meta["epoch"] = std::to_string(epoch + 1);
        save_renderer((out / name).string(), G, D, Dm, meta);
        save_renderer((out / "renderer.safetensors").string(), G, MultiscaleDiscriminator{nullptr},
                      MultiscaleDiscriminator{nullptr}, meta);
        std::fill(std::begin(sums), std::end(sums), 0.0);
        windows_in_epoch = 0;
        save_state(epoch + 1, 0);
        last_save = std::chrono::steady_clock::now();
        NED_LOG_INFO("[train-renderer] epoch {}/{}: G_GAN {:.3f} G_VGG {:.3f} D_real {:.3f} D_fake {:.3f}{}", epoch + 1,
                     o.epochs, j["G_GAN"].get<double>(), j["G_VGG"].get<double>(), j["D_real"].get<double>(),
                     j["D_fake"].get<double>(), has_val ? cat(", validation PSNR ", psnr, " dB") : std::string());
        result.epochs_done = epoch + 1;
        result.val_psnr = psnr;
    }
    result.steps = steps;
    result.renderer_path = (out / "renderer.safetensors").string();
    if (result.epochs_done == 0) result.epochs_done = start_epoch;
    return result;
}

}  // namespace ned::renderer
