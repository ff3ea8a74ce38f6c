// `ned train-manipulator DATASET --out DIR`: train NED's emotion manipulator (StarGAN v2 over [jaw, exp50]
// windows) on reconstruction files grouped by emotion. Library: ned/manip/train.hpp.
#include <memory>

#include "command.hpp"
#include "dist_options.hpp"
#include "ned/core/error.hpp"
#include "ned/core/log.hpp"
#include "ned/core/progress.hpp"
#include "ned/manip/train.hpp"

namespace ned::cli {
namespace {

/// The options of the training itself (epochs to init-from), and their field -> flag table.
void add_training_options(CLI::App* sub, manip::TrainOptions& o) {
    sub->add_option("--epochs", o.epochs, "Epochs (NED --niter; Aff-Wild2: 20, MEAD fine-tuning: 10)")
        ->capture_default_str();
    sub->add_option("--decay-epochs", o.decay_epochs,
                    "Last epochs with linear learning-rate decay to 0 (NED --niter_decay)")
        ->capture_default_str();
    sub->add_option("--iters-per-epoch", o.iters_per_epoch, "Iterations per epoch (0 = one pass over the windows)")
        ->capture_default_str();
    sub->add_option("--batch-size", o.batch_size, "Windows per batch")->capture_default_str();
    sub->add_option("--lr", o.lr, "Learning rate of G, E and D (Adam betas 0, 0.99)")
        ->check(finite_range(1e-12, 1))
        ->capture_default_str();
    sub->add_option("--f-lr", o.f_lr, "Learning rate of the mapping network")
        ->check(finite_range(0, 1))
        ->capture_default_str();
    sub->add_option("--lambda-sty", o.lambdas.sty, "Weight of the style reconstruction loss")
        ->check(finite_range(0, 1e6))
        ->capture_default_str();
    sub->add_option("--lambda-cyc", o.lambdas.cyc, "Weight of the cycle loss")
        ->check(finite_range(0, 1e6))
        ->capture_default_str();
    sub->add_option("--lambda-mouth", o.lambdas.mouth, "Weight of the Pearson mouth loss")
        ->check(finite_range(0, 1e6))
        ->capture_default_str();
    sub->add_option("--val-fraction", o.val_fraction, "Share of files held out for validation losses")
        ->check(finite_range(0, 0.99))
        ->capture_default_str();
    sub->add_option("--seed", o.seed, "Seed of initialisation, sampling and the split (same seed -> same weights)")
        ->check(uint64_text())
        ->capture_default_str();
    sub->add_flag("--resume", o.resume, "Continue from the last complete epoch in --out");
    sub->add_option("--init-from", o.init_from, "Start from this checkpoint (fine-tuning, e.g. Aff-Wild2 -> MEAD)");
    map_fields(sub, {{"TrainOptions::epochs", "--epochs"},
                     {"TrainOptions::decay_epochs", "--decay-epochs"},
                     {"TrainOptions::iters_per_epoch", "--iters-per-epoch"},
                     {"TrainOptions::batch_size", "--batch-size"},
                     {"TrainOptions::lr", "--lr"},
                     {"TrainOptions::f_lr", "--f-lr"},
                     {"TrainOptions::lambdas.sty", "--lambda-sty"},
                     {"TrainOptions::lambdas.cyc", "--lambda-cyc"},
                     {"TrainOptions::lambdas.mouth", "--lambda-mouth"},
                     {"TrainOptions::val_fraction", "--val-fraction"},
                     {"TrainOptions::seed", "--seed"},
                     {"TrainOptions::resume", "--resume"},
                     {"TrainOptions::init_from", "--init-from"},
                     {"TrainOptions::out_dir", "--out"}});
}

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<manip::TrainOptions>();
    auto d = std::make_shared<DistCliOptions>();
    CLI::App* sub = app.add_subcommand(
        "train-manipulator",
        "Train the 3D-based emotion manipulator (NED's LSTM StarGAN v2) on reconstructions labelled by emotion");
    sub->add_option("DATASET", o->dataset,
                    "Folder DATASET/<emotion>/*.safetensors (reconstructions; emotions: neutral angry disgusted fear "
                    "happy sad surprised) or a CSV manifest 'path,emotion'")
        ->required();
    sub->add_option("--out", o->out_dir,
                    "Output folder for checkpoints and losses.jsonl (created if missing, once the dataset and "
                    "--init-from have loaded; its parent must exist)")
        ->required();
    add_training_options(sub, *o);
    auto widths =
        std::make_shared<std::vector<int>>(std::vector<int>{o->net.g_hidden, o->net.e_hidden, o->net.m_hidden});
    sub->add_option("--hidden", *widths,
                    "Hidden widths of G, E/D and M (NED: 512,128,64; smaller networks train faster, for experiments)")
        ->delimiter(',')
        ->expected(3)
        ->check(CLI::Range(4, 4096))
        ->capture_default_str();
    add_dist_options(sub, *d);
    static const std::vector<std::pair<std::string, bool>> reduce = {{"overlap", true}, {"after", false}};
    bind_enum(sub->add_option("--dist-reduce", o->overlap_reduce,
                              "overlap: gradient all-reduce in buckets while the backward pass runs (as DDP); after: "
                              "one all-reduce pass after it (the former way; for checking, same weights)"),
              reduce, o->overlap_reduce)
        ->group(sub->get_option("--dist-bucket-mb")->get_group());
    sub->footer(
        "Several processes (torchrun-style environment or srun) train data-parallel: --batch-size per rank,\n"
        "rank 0 writes the outputs; --resume works with another number of ranks (docs/cluster.md).\n"
        "Outputs: DIR/epoch_NN.safetensors every epoch, DIR/epoch_NN.optim.safetensors (latest only),\n"
        "DIR/manipulator.safetensors (latest networks, for 'ned manipulate'), DIR/losses.jsonl.\n"
        "Exit codes: 1 training diverged (non-finite loss or weights: lower --lr; earlier epochs stay);\n"
        "2 bad dataset/options, --out a file or not writable, or checkpoints already in DIR (use --resume\n"
        "or -y); 3 bad --init-from.");
    set_inputs(sub, [o] {
        return std::vector<std::pair<std::string, std::string>>{{o->init_from, "--init-from checkpoint"},
                                                                {o->dataset, "dataset manifest"}};
    });
    set_outputs(sub, [o] { return std::vector<std::pair<std::string, std::string>>{{o->out_dir, "--out folder"}}; });
    set_runner(sub, [o, d, widths, &common] {
        manip::TrainOptions opts = *o;
        opts.net = manip::NetConfig{(*widths)[0], (*widths)[1], (*widths)[2]};
        opts.device = common.device;
        opts.overwrite = common.overwrite;
        opts.dist = make_dist_context(*d, opts.device);
        ProgressBar bar("train-manipulator", 0);
        if (opts.dist->is_main()) opts.progress = bar.fn();
        auto r = manip::train_manipulator(opts);
        bar.finish();
        if (opts.dist->is_main()) NED_LOG_INFO("[manip] wrote {}", r.checkpoint);
    });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(train_manipulator, ned::cli::setup, 70);
