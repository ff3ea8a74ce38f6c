// `ned train-renderer` library side: see include/ned/renderer/train.hpp. The footage and its sampling are in
// train_data.cpp, one training window in train_step.cpp; this file sets up the run and loops over the epochs
// (state, validation, outputs).
#include "ned/renderer/train.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <tuple>

#include "ned/core/cpu_features.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fault.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/image_io.hpp"
#include "ned/core/log.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "ned/renderer/render.hpp"
#include "renderer/train_internal.hpp"

namespace fs = std::filesystem;

namespace ned::renderer {
using namespace train_detail;

namespace {

constexpr const char* kStateFormat = "ned.renderer.state";

std::string hexf(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%a", v);
    return buf;
}

void check_options(const TrainOptions& o) {
    o.validate();
    if (o.precision == Precision::Fp16 && !resolve_device(o.device).is_cuda())
        throw OptionError("TrainOptions::precision", " fp16 needs a CUDA device; on the CPU use fp32 or bf16");
    if (o.precision == Precision::Bf16 && !resolve_device(o.device).is_cuda())
        cpu::require_native_bf16("[train-renderer] --precision bf16");
    if (o.vgg.empty() && !o.no_vgg)
        throw ModelError("[train-renderer] the VGG19 perceptual loss needs --vgg models/vgg19.safetensors (convert "
                         "torchvision's weights with scripts/convert_vgg19.py), or give --no-vgg (lower quality)");
}

/// The previous-run checks of --out: --resume needs its state, a fresh run refuses a folder holding one.
void check_run_state(const TrainOptions& o) {
    const fs::path out(o.out);
    const fs::path state_path = out / "state.safetensors";
    std::error_code ec;
    if (fs::exists(out, ec) && !fs::is_directory(out, ec))
        throw InputError(cat("[train-renderer] --out ", out.string(), ": exists and is not a folder (expected the output "
                             "folder of the run)"));
    if (o.resume && !fs::is_regular_file(state_path, ec))
        throw InputError(cat("[train-renderer] --resume: ", state_path.string(), " does not exist"));
    if (!o.resume && fs::exists(state_path, ec) && !o.overwrite)
        throw InputError(cat("[train-renderer] ", out.string(), " holds a previous run (use --resume to continue it or -y "
                             "to start over)"));
}

/// Name of the first parameter or Adam moment of the run that holds a NaN or an infinity; empty if none.
std::string non_finite_state(Trainer& tr) {
    torch::NoGradGuard ng;
    auto bad = [](const torch::Tensor& t) { return t.defined() && !torch::isfinite(t).all().item<bool>(); };
    for (Adam* a : {tr.optG.get(), tr.optD.get()}) {
        for (const auto& [name, p] : a->params())
            if (bad(p)) return cat("weight ", name);
        for (const auto& t : a->exp_avg())
            if (bad(t)) return "an Adam moment";
        for (const auto& t : a->exp_avg_sq())
            if (bad(t)) return "an Adam moment";
    }
    return {};
}

/// Held-out frames rendered sequentially as `ned render` does: masked L1 and PSNR, and the preview sheet.
/// A non-finite generated frame sets l1 and psnr to NaN (divergence; no preview is written).
bool validate(Trainer& tr, const Dataset& d, int preview_frames, const fs::path& preview, double& l1, double& psnr) {
    l1 = psnr = 0;
    if (d.val.frames.empty()) return false;
    const int S = d.size;
    torch::NoGradGuard ng;
    tr.G->eval();
    const Actor& a = d.actors[d.val.actor];
    torch::Tensor prev = torch::zeros({1, 6, S, S}, torch::TensorOptions().device(tr.device));
    std::vector<FrameData> hist;
    double abs_sum = 0, sq_sum = 0, n = 0;
    std::vector<cv::Mat> rows;
    const auto& frames = d.val.frames;
    const int P = std::min<int>(preview_frames, static_cast<int>(frames.size()));
    for (size_t i = 0; i < frames.size(); ++i) {
        hist.push_back(load_frame(a, frames[i]));  // the last (up to) 3 frames, oldest first
        const size_t h = hist.size();
        const FrameData& c0 = hist[h >= 3 ? h - 3 : 0];
        const FrameData& c1 = hist[h >= 2 ? h - 2 : 0];
        const FrameData& c2 = hist[h - 1];
        const auto cond = torch::cat({c0.cond, c1.cond, c2.cond}).unsqueeze(0).to(tr.device);
        const auto mask = c2.mask.unsqueeze(0).to(tr.device);
        const auto fake = tr.G->forward(cond, prev, mask);
        prev = torch::cat({prev.narrow(1, 3, 3), fake}, 1);
        const auto f8 = ((fake[0].cpu() + 1) / 2 * 255).clamp(0, 255).floor();
        const auto r8 = ((c2.real + 1) / 2 * 255).clamp(0, 255).round();
        const auto m = c2.mask.expand_as(f8) > 0.5;
        abs_sum += (fake[0].cpu() - c2.real).abs().masked_select(m).sum().item<double>();
        sq_sum += (f8 - r8).pow(2).masked_select(m).sum().item<double>();
        n += m.sum().item<double>();
        const bool show = P > 0 && (i == 0 || (P > 1 && i == frames.size() - 1) || (P > 2 && i == frames.size() / 2));
        if (show) {
            cv::Mat nmfc = output_to_image(c2.cond.narrow(0, 0, 3) * 2 - 1);
            cv::Mat row;
            cv::hconcat(std::vector<cv::Mat>{nmfc, output_to_image(c2.real), output_to_image(fake)}, row);
            rows.push_back(row);
        }
        if (hist.size() > 3) hist.erase(hist.begin());
    }
    tr.G->train();
    if (n > 0) {
        l1 = abs_sum / n;
        const double mse = sq_sum / n;
        // NaN is divergence, not a perfect match: 99 dB only for an exact one
        psnr = !std::isfinite(mse) || !std::isfinite(l1) ? std::nan("") : mse > 0 ? 10 * std::log10(255.0 * 255.0 / mse) : 99.0;
        if (std::isnan(psnr)) {
            l1 = psnr;
            return true;
        }
    }
    if (!rows.empty()) {
        cv::Mat sheet;
        cv::vconcat(rows, sheet);
        AtomicFile f(preview.string(), true);
        write_image(f.temp_path(), sheet, "[train-renderer] preview", f.path());
        f.commit();
    }
    return true;
}

/// Parameters and buffers of the networks and the optimiser moments: what rank 0 broadcasts.
std::vector<torch::Tensor> replicated_state(Trainer& tr) {
    std::vector<torch::Tensor> v;
    for (torch::nn::Module* m : {static_cast<torch::nn::Module*>(tr.G.get()), static_cast<torch::nn::Module*>(tr.D.get()),
                                 static_cast<torch::nn::Module*>(tr.Dm.get())}) {
        for (auto& p : m->parameters(true)) v.push_back(p);
        for (auto& b : m->buffers(true)) v.push_back(b);
    }
    for (Adam* a : {tr.optG.get(), tr.optD.get()}) {
        v.insert(v.end(), a->exp_avg().begin(), a->exp_avg().end());
        v.insert(v.end(), a->exp_avg_sq().begin(), a->exp_avg_sq().end());
    }
    return v;
}

}  // namespace

void TrainOptions::validate() const {
    if (actors.empty()) throw OptionError("TrainOptions::actors", ": give at least one prepared work folder of the actor");
    if (out.empty()) throw OptionError("TrainOptions::out", " is required");
    for (const auto& [field, v, least] :
         {std::tuple<const char*, int, int>{"TrainOptions::epochs", epochs, 1},
          {"TrainOptions::batch_size", batch_size, 1},
          {"TrainOptions::clip_frames", clip_frames, 1},
          {"TrainOptions::max_clip_frames", max_clip_frames, 1},
          {"TrainOptions::window", window, 1},
          {"TrainOptions::subsequence", subsequence, 3},
          {"TrainOptions::ngf", ngf, 1},
          {"TrainOptions::ndf", ndf, 1},
          {"TrainOptions::double_every", double_every, 0},
          {"TrainOptions::val_frames", val_frames, 0},
          {"TrainOptions::preview_frames", preview_frames, 0}})
        if (v < least) throw OptionError(field, cat(" must be >= ", least, " (got ", v, ")"));
    // 0 is "the default" of the library's options; the CLI refuses it (a value typed is never replaced)
    if (!(std::isfinite(lr) && lr >= 0 && lr <= 1))
        throw OptionError("TrainOptions::lr", cat(" must be a finite number in (0, 1] (got ", lr, ")"));
    if (!(std::isfinite(save_minutes) && save_minutes >= 0))
        throw OptionError("TrainOptions::save_minutes", cat(" must be a finite number >= 0 (got ", save_minutes, ")"));
}

void check_train_inputs(const TrainOptions& o) {
    check_options(o);
    check_run_state(o);
    resolve_device(o.device);  // --device cuda without a GPU
    if (!o.resume && !o.init_from.empty()) load_renderer(o.init_from, torch::kCPU, true);  // ModelError (exit 3)
    if (!o.no_vgg) load_vgg19(o.vgg, torch::kCPU);
}

TrainResult train_renderer(const TrainOptions& o, const ProgressFn& progress) {
    check_options(o);
    check_run_state(o);
    const std::shared_ptr<dist::Context> ctx = o.dist ? o.dist : dist::Context::single();
    const bool main_rank = ctx->is_main();
    const int64_t world = ctx->world(), rank = ctx->rank();
    const fs::path out(o.out);
    const fs::path state_path = out / "state.safetensors";

    // ---- data: rank 0 prepares the cache under DIR, the other ranks read it once it is there ----
    fault_point("train.data");
    Dataset data = make_dataset(o, out, main_rank);
    ctx->main_done("prepared");
    ctx->wait_for_main("prepared");
    const int S = data.size;
    const int64_t N = static_cast<int64_t>(data.items.size());
    const int64_t B = o.batch_size, GB = B * world;  // per rank, global
    const int64_t batches = (N + GB - 1) / GB;

    // ---- networks ----
    torch::manual_seed(o.seed);
    Trainer tr;
    tr.device = resolve_device(o.device);
    // mixed precision: float32 master weights and optimiser state, forward and backward in bf16/fp16
    if (o.precision == Precision::Fp16) {  // (on CUDA: check_options)
        tr.compute = torch::kHalf;
        tr.scaleG.enabled = tr.scaleD.enabled = true;
    } else if (o.precision == Precision::Bf16) {
        tr.compute = torch::kBFloat16;  // (a CPU without native bf16 was refused in check_options)
    }
    std::string init_note = "scratch";
    st::File state_file;
    if (o.resume) {
        state_file = st::load(state_path.string(), st::Role::Model);
        state_file.require_format(kStateFormat, 1);
        RendererNets nets = renderer_from_file(state_file, torch::kCPU, true);
        tr.G = nets.generator;
        tr.D = nets.discriminator;
        tr.Dm = nets.mouth_discriminator;
        if (tr.D.is_empty() || tr.Dm.is_empty())
            throw InputError(cat("[train-renderer] ", state_path.string(), " has no discriminators"));
        init_note = nets.metadata.count("init") ? nets.metadata.at("init") : "resumed";
    } else if (!o.init_from.empty()) {
        RendererNets nets = load_renderer(o.init_from, torch::kCPU, true);
        tr.G = nets.generator;
        tr.D = nets.discriminator;
        tr.Dm = nets.mouth_discriminator;
        init_note = o.init_from;
    } else {
        GeneratorConfig gc;
        gc.ngf = o.ngf;
        gc.n_blocks = o.n_blocks;
        tr.G = Generator(gc);
        init_weights(*tr.G);
    }
    DiscriminatorConfig dc;
    dc.ndf = o.ndf;
    if (tr.D.is_empty()) {
        tr.D = MultiscaleDiscriminator(dc);
        init_weights(*tr.D);
    }
    if (tr.Dm.is_empty()) {
        tr.Dm = MultiscaleDiscriminator(tr.D->cfg);
        init_weights(*tr.Dm);
    }
    for (torch::nn::Module* m : {static_cast<torch::nn::Module*>(tr.G.get()), static_cast<torch::nn::Module*>(tr.D.get()),
                                 static_cast<torch::nn::Module*>(tr.Dm.get())}) {
        m->to(tr.device);
        m->train();
    }
    const bool fine_tune = !o.init_from.empty() || init_note != "scratch";
    const double lr = o.lr > 0 ? o.lr : (fine_tune ? 4e-5 : 2e-4);
    make_optimisers(tr, lr);
    if (!o.no_vgg) {
        tr.vgg = load_vgg19(o.vgg, tr.device);
        if (tr.compute != torch::kFloat) tr.vgg->to(tr.compute);  // frozen: converted once
    }
    else if (main_rank) NED_LOG_WARN("[train-renderer] --no-vgg: training without the VGG19 perceptual loss (lower quality)");

    int start_epoch = 0;
    int64_t start_pos = 0, steps = 0;
    double sums[kNumLosses] = {0};
    int64_t windows_in_epoch = 0;
    if (o.resume) {
        fault_point("train.resume");
        const st::File& f = state_file;
        tr.optG->load(f, "optim.G.");
        tr.optD->load(f, "optim.D.");
        tr.optG->lr = tr.optD->lr = lr;
        if (tr.scaleG.enabled) {  // fp16: the loss scales of the interrupted run (when it was fp16 too)
            tr.scaleG.scale = std::strtod(f.meta("loss_scale.G", "65536").c_str(), nullptr);
            tr.scaleD.scale = std::strtod(f.meta("loss_scale.D", "65536").c_str(), nullptr);
        }
        start_epoch = std::stoi(f.meta("epoch"));
        // position = sub-sequences of the epoch's order already trained on (rank-count independent); files of
        // the first version hold the batch index of a one-process run
        start_pos = f.metadata.count("position") ? std::stoll(f.meta("position"))
                                                 : std::stoll(f.meta("batch", "0")) * o.batch_size;
        steps = std::stoll(f.meta("steps"));
        windows_in_epoch = std::stoll(f.meta("windows_in_epoch", "0"));
        for (int k = 0; k < kNumLosses; ++k) sums[k] = std::strtod(f.meta(cat("sum.", kLossNames[k]), "0").c_str(), nullptr);
        if (f.meta("seed") != std::to_string(o.seed))
            NED_LOG_WARN("[train-renderer] resuming a run made with --seed {} (now {})", f.meta("seed"), o.seed);
        if (main_rank)
            NED_LOG_INFO("[train-renderer] resuming at epoch {}, sub-sequence {} of {} ({} steps done{})", start_epoch + 1,
                         start_pos, N, steps, f.meta("world", "1") != std::to_string(world)
                                                   ? cat("; the run had ", f.meta("world", "1"), " ranks, now ", world)
                                                   : std::string());
        state_file = st::File();  // free the copy
    }
    // the gradient sums over the ranks (hooks that overlap the all-reduce with the backward pass)
    make_reducers(tr, ctx);
    if (world > 1) {
        // identical weights and optimiser state on every rank: rank 0's
        auto v = replicated_state(tr);
        auto counts = torch::tensor({static_cast<double>(tr.optG->steps), static_cast<double>(tr.optD->steps)}, torch::kFloat64);
        v.push_back(counts);
        fault_point("train.broadcast");
        ctx->broadcast(v);
        tr.optG->steps = static_cast<int64_t>(counts[0].item<double>());
        tr.optD->steps = static_cast<int64_t>(counts[1].item<double>());
        NED_LOG_INFO("[train-renderer] rank {}/{}: {} clips per rank per step, global batch {}, {} gradient buckets",
                     rank, world, B, GB, tr.redG->buckets() + tr.redD->buckets());
    }
    if (main_rank)
        NED_LOG_INFO("[train-renderer] G ngf {} ({} parameters), {} sub-sequences, {} steps per epoch, lr {}, init {}{}",
                     tr.G->cfg.ngf, parameter_count(*tr.G), N, batches, lr, init_note,
                     o.augment ? "" : ", no augmentation");

    const std::map<std::string, std::string> run_meta = {{"init", init_note}, {"seed", std::to_string(o.seed)}};
    auto save_state = [&](int epoch, int64_t position) {
        st::File f;
        f.metadata = run_meta;
        f.metadata["format"] = kStateFormat;
        f.metadata["version"] = "1";
        f.metadata["epoch"] = std::to_string(epoch);
        f.metadata["position"] = std::to_string(position);
        f.metadata["world"] = std::to_string(world);
        f.metadata["steps"] = std::to_string(steps);
        f.metadata["windows_in_epoch"] = std::to_string(windows_in_epoch);
        f.metadata["precision"] = precision_name(o.precision);
        if (tr.scaleG.enabled) {
            f.metadata["loss_scale.G"] = hexf(tr.scaleG.scale);
            f.metadata["loss_scale.D"] = hexf(tr.scaleD.scale);
        }
        for (int k = 0; k < kNumLosses; ++k) f.metadata[cat("sum.", kLossNames[k])] = hexf(sums[k]);
        auto add = [&](const torch::nn::Module& m, const std::string& prefix) {
            for (const auto& p : m.named_parameters(true)) f.tensors[prefix + p.key()] = from_torch(p.value().detach().to(torch::kCPU));
        };
        add(*tr.G, "generator.");
        add(*tr.D, "discriminator.");
        add(*tr.Dm, "mouth_discriminator.");
        tr.optG->save(f, "optim.G.");
        tr.optD->save(f, "optim.D.");
        require_finite(f, state_path.string());
        st::save(state_path.string(), f);
    };
    // Divergence: one line naming where, what to try, and what is kept (nothing non-finite is ever written).
    std::string last_good = o.resume ? "the state it resumed from" : "";
    auto diverged = [&](int epoch, const std::string& what) {
        return Error(cat("[train-renderer] training diverged in epoch ", epoch + 1, " (step ", steps, "): ", what,
                         "; try a lower --lr (this run: ", lr, "); ",
                         last_good.empty() ? std::string("no checkpoint was written")
                                           : cat(out.string(), " keeps ", last_good)));
    };

    if (main_rank) {
        std::error_code ec;
        fs::create_directories(out / "preview", ec);
        if (ec) {
            const std::string msg = cat("[train-renderer] --out ", out.string(), ": cannot create ",
                                        (out / "preview").string(), " (", ec.message(), ")");
            if (ec == std::errc::no_space_on_device) throw IoError(msg);
            throw InputError(msg);
        }
    }
    if (!o.resume && main_rank) {  // a fresh run: drop the state, checkpoints and logs of an earlier one (the cache
                                   // stays); only now, after the inputs and --init-from have loaded
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
    const int64_t first_step = static_cast<int64_t>(start_epoch) * batches + start_pos / GB;
    TrainResult result;
    for (int epoch = start_epoch; epoch < o.epochs; ++epoch) {
        const int n_gen = static_cast<int>(std::min<int64_t>(
            o.max_clip_frames, static_cast<int64_t>(o.clip_frames) << std::min(epoch / std::max(1, o.double_every), 16)));
        // the epoch's order: the same on every rank, from (seed, epoch)
        std::vector<size_t> order(N);
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::mt19937_64 erng(mix(o.seed, static_cast<uint64_t>(epoch)));
        std::shuffle(order.begin(), order.end(), erng);
        for (int64_t first = (epoch == start_epoch ? start_pos : 0); first < N; first += GB) {
            const int64_t global = std::min(GB, N - first);
            // this rank's slice of the global batch (the last, partial one can leave a rank without clips)
            const int64_t begin = std::min(global, rank * B), end = std::min(global, (rank + 1) * B);
            const double share = static_cast<double>(end - begin) / static_cast<double>(global);
            const Clips clips = sample_clips(data, order, first, global, begin, end, n_gen, o.seed, epoch, o.augment);
            torch::Tensor prev = torch::zeros({end - begin, 6, S, S}, torch::TensorOptions().device(tr.device));
            for (size_t w0 = 2; w0 < clips.length; w0 += o.window) {
                fault_point("train.step");
                const auto l = train_window(tr, clips, w0, o.window, prev, share, S);
                ++windows_in_epoch;
                ++steps;
                // the losses are the global means: every rank stops at the same step. fp16 excepted: there the loss
                // scale skips a step whose values overflowed (the weights are checked before each save)
                if (tr.compute != torch::kHalf)
                    for (int k = 0; k < kNumLosses; ++k)
                        if (!std::isfinite(l[k]))
                            throw diverged(epoch, cat("the ", kLossNames[k], " loss is ",
                                                      std::isnan(l[k]) ? "NaN" : "infinite"));
                for (int k = 0; k < kNumLosses; ++k)
                    if (std::isfinite(l[k])) sums[k] += l[k];
                if (o.after_step) o.after_step(steps);
            }
            const int64_t done = first + global;
            // steps of this run (a resumed run counts from where it starts, so that rate and time left are right)
            if (progress)
                progress(static_cast<long>(epoch * batches + (done + GB - 1) / GB - first_step),
                         static_cast<long>(total_batches - first_step));
            const auto now = std::chrono::steady_clock::now();
            if (main_rank && std::chrono::duration<double>(now - last_save).count() >= o.save_minutes * 60 && done < N) {
                const std::string bad = non_finite_state(tr);
                if (!bad.empty()) throw diverged(epoch, cat(bad, " is not finite"));
                save_state(epoch, done);
                last_save = now;
                last_good = cat("the state saved in epoch ", epoch + 1);
            }
        }
        // ---- end of epoch (rank 0 writes; the others go on and wait in the next step's all-reduce) ----
        {
            // every rank holds the same weights: all of them stop here alike
            const std::string bad = non_finite_state(tr);
            if (!bad.empty()) throw diverged(epoch, cat(bad, " is not finite"));
        }
        nlohmann::json j;
        j["epoch"] = epoch + 1;
        j["steps"] = steps;
        j["clip_frames"] = n_gen;
        for (int k = 0; k < kNumLosses; ++k) j[kLossNames[k]] = windows_in_epoch ? sums[k] / windows_in_epoch : 0.0;
        std::fill(std::begin(sums), std::end(sums), 0.0);
        windows_in_epoch = 0;
        result.epochs_done = epoch + 1;
        fault_point("train.epoch_end");  // rank 0 validates and writes its checkpoints from here
        if (!main_rank) continue;
        double l1 = 0, psnr = 0;
        char name[32];
        std::snprintf(name, sizeof name, "epoch_%02d.jpg", epoch + 1);
        fault_point("train.validate");
        const bool has_val = validate(tr, data, o.preview_frames, out / "preview" / name, l1, psnr);
        if (has_val && !(std::isfinite(l1) && std::isfinite(psnr)))
            throw diverged(epoch, "the validation frames came out NaN");
        if (has_val) {
            j["val_l1"] = l1;
            j["val_psnr"] = psnr;
        } else {
            j["val_l1"] = nullptr;
            j["val_psnr"] = nullptr;
        }
        j["ranks"] = world;
        j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
        {
            std::ofstream os(out / "losses.jsonl", std::ios::app);
            os << j.dump() << "\n";
            if (!os) throw IoError(cat("[train-renderer] could not write ", (out / "losses.jsonl").string()));
        }
        std::snprintf(name, sizeof name, "epoch_%02d.safetensors", epoch + 1);
        auto meta = run_meta;
        meta["epoch"] = std::to_string(epoch + 1);
        fault_point("train.checkpoint");
        save_renderer((out / name).string(), tr.G, tr.D, tr.Dm, meta);
        save_renderer((out / "renderer.safetensors").string(), tr.G, MultiscaleDiscriminator{nullptr},
                      MultiscaleDiscriminator{nullptr}, meta);
        save_state(epoch + 1, 0);
        last_good = cat("the checkpoints and state of epoch ", epoch + 1);
        last_save = std::chrono::steady_clock::now();
        NED_LOG_INFO("[train-renderer] epoch {}/{}: G_GAN {:.3f} G_VGG {:.3f} D_real {:.3f} D_fake {:.3f}{}", epoch + 1,
                     o.epochs, j["G_GAN"].get<double>(), j["G_VGG"].get<double>(), j["D_real"].get<double>(),
                     j["D_fake"].get<double>(), has_val ? cat(", validation PSNR ", psnr, " dB") : std::string());
        result.val_psnr = psnr;
        result.has_validation = has_val;
    }
    ctx->barrier();  // no rank leaves (and tears its process group down) before the others are done
    result.steps = steps;
    result.renderer_path = (out / "renderer.safetensors").string();
    if (result.epochs_done == 0) result.epochs_done = start_epoch;
    return result;
}

}  // namespace ned::renderer
