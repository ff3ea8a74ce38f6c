// `ned train-manipulator DATASET --out DIR`: train NED's emotion manipulator (StarGAN v2 over [jaw, exp50]
// windows) on reconstruction files grouped by emotion. Library: ned/manip/train.hpp.
#include <memory>

#include "command.hpp"
#include "ned/core/error.hpp"
#include "ned/core/log.hpp"
#include "ned/core/progress.hpp"
#include "ned/manip/train.hpp"

namespace ned::cli {
namespace {

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<manip::TrainOptions>();
    CLI::App* sub = app.add_subcommand(
        "train-manipulator",
        "Train the 3D-based emotion manipulator (NED's LSTM StarGAN v2) on reconstructions labelled by emotion");
    sub->add_option("DATASET", o->dataset,
                    "Folder DATASET/<emotion>/*.safetensors (reconstructions; emotions: neutral angry disgusted fear "
                    "happy sad surprised) or a CSV manifest 'path,emotion'")
        ->required();
    sub->add_option("--out", o->out_dir, "Output folder for checkpoints and losses.jsonl (created if missing)")
        ->required();
    sub->add_option("--epochs", o->epochs, "Epochs (NED --niter; Aff-Wild2: 20, MEAD fine-tuning: 10)")
        ->capture_default_str();
    sub->add_option("--decay-epochs", o->decay_epochs, "Last epochs with linear learning-rate decay to 0 (NED --niter_decay)")
        ->capture_default_str();
    sub->add_option("--iters-per-epoch", o->iters_per_epoch, "Iterations per epoch (0 = one pass over the windows)")
        ->capture_default_str();
    sub->add_option("--batch-size", o->batch_size, "Windows per batch")->capture_default_str();
    sub->add_option("--lr", o->lr, "Learning rate of G, E and D (Adam betas 0, 0.99)")->check(finite_range(1e-12, 1))->capture_default_str();
    sub->add_option("--f-lr", o->f_lr, "Learning rate of the mapping network")->check(finite_range(0, 1))->capture_default_str();
    sub->add_option("--lambda-sty", o->lambdas.sty, "Weight of the style reconstruction loss")->check(finite_range(0, 1e6))->capture_default_str();
    sub->add_option("--lambda-cyc", o->lambdas.cyc, "Weight of the cycle loss")->check(finite_range(0, 1e6))->capture_default_str();
    sub->add_option("--lambda-mouth", o->lambdas.mouth, "Weight of the Pearson mouth loss")->check(finite_range(0, 1e6))->capture_default_str();
    sub->add_option("--val-fraction", o->val_fraction, "Share of files held out for validation losses")->check(finite_range(0, 0.99))
        ->capture_default_str();
    sub->add_option("--seed", o->seed, "Seed of initialisation, sampling and the split (same seed -> same weights)")
        ->capture_default_str();
    sub->add_flag("--resume", o->resume, "Continue from the last complete epoch in --out");
    sub->add_option("--init-from", o->init_from, "Start from this checkpoint (fine-tuning, e.g. Aff-Wild2 -> MEAD)");
    sub->footer("Outputs: DIR/epoch_NN.safetensors every epoch, DIR/epoch_NN.optim.safetensors (latest only),\n"
                "DIR/manipulator.safetensors (latest networks, for 'ned manipulate'), DIR/losses.jsonl.\n"
                "Exit codes: 2 bad dataset/options or checkpoints already in DIR (use --resume or -y), 3 bad --init-from.");
    set_inputs(sub, [o] {
        return std::vector<std::pair<std::string, std::string>>{{o->init_from, "--init-from checkpoint"},
                                                                {o->dataset, "dataset manifest"}};
    });
    set_runner(sub, [o, &common] {
        manip::TrainOptions opts = *o;
        opts.device = common.device;
        opts.overwrite = common.overwrite;
        ProgressBar bar("train-manipulator", 0);
        opts.progress = bar.fn();
        auto r = manip::train_manipulator(opts);
        bar.finish();
        NED_LOG_INFO("[manip] wrote {}", r.checkpoint);
    });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(train_manipulator, ned::cli::setup, 70);
