//! `exemplar sample-units`: which units to study: a layer uniformly among the eligible
//! ones (named, by operator type, or by the paper's rules for an architecture), then a
//! channel uniformly, without repeats.

use std::path::PathBuf;

use exemplar_core::selection;
use exemplar_engine::Engine;

use crate::exemplars::LimitOptions;

/// The architectures whose eligible layers `sample-units --architecture` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Architecture {
    /// GoogLeNet / InceptionV1 (torchvision, or Caffe/Lucid).
    Googlenet,
    /// ResNet and Wide ResNet (torchvision; CLIP's RN50).
    Resnet,
    /// DenseNet (torchvision).
    Densenet,
    /// ConvNeXt (torchvision or timm).
    Convnext,
    /// Vision Transformer (torchvision or timm).
    Vit,
}

impl Architecture {
    /// Whether the output `name` of an `op` node is one of the paper's eligible layers;
    /// `last` says it is the last node of its module (a norm or linear layer's output
    /// whatever operators an opset splits it into). Names are the TorchScript exporter's:
    /// the module path, then `/<Op>_output_0`.
    pub fn eligible(self, op: &str, name: &str, last: bool) -> bool {
        let module = name.rsplit_once('/').map_or("", |(m, _)| m);
        let (is_last, last) = (last, module.rsplit('/').next().unwrap_or(""));
        // `features.1.0`, `blocks.3`: a numbered block of a stage.
        let block = |m: &str| {
            let parts: Vec<&str> = m.split('.').collect();
            parts.len() >= 2
                && ["features", "blocks"].contains(&parts[0])
                && parts[1..]
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        // MLP layers: the linear layers' outputs (after their bias); not GELU's insides.
        let mlp = is_last
            && [
                "/mlp/fc1",
                "/mlp/fc2",
                "/mlp/mlp.0",
                "/mlp/mlp.3",
                "/mlp/c_fc",
                "/mlp/c_proj",
                "/block/block.3",
                "/block/block.5",
            ]
            .iter()
            .any(|m| module.ends_with(m));
        match self {
            Architecture::Googlenet | Architecture::Resnet => {
                op == "Conv" || (self == Architecture::Resnet && op == "BatchNormalization")
            }
            Architecture::Densenet => {
                ["Conv", "BatchNormalization"].contains(&op)
                    && (module.contains("/denseblock") || module.contains("/transition"))
            }
            Architecture::Convnext => {
                let depthwise = op == "Conv"
                    && (module.ends_with("/block/block.0") || module.ends_with("/conv_dw"));
                let norm = is_last
                    && (module.ends_with("/block/block.2")
                        || (block_parent(module, block) && last == "norm"));
                let output = op == "Add" && name.ends_with("/Add_output_0") && block(last);
                depthwise || norm || mlp || output
            }
            Architecture::Vit => {
                let norm = is_last && ["ln_1", "ln_2", "norm1", "norm2"].contains(&last);
                norm || mlp
            }
        }
    }
}

/// Whether `module`'s parent is a numbered block (timm's `blocks.0/norm`).
fn block_parent(module: &str, block: impl Fn(&str) -> bool) -> bool {
    module
        .rsplit_once('/')
        .and_then(|(parent, _)| parent.rsplit('/').next())
        .is_some_and(block)
}

/// Options of `exemplar sample-units`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("eligible").required(true).args(["layers", "op_types", "architecture"])))]
pub struct SampleOptions {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// The eligible layers (tensor names), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<String>,
    /// Or: every output of a node of these operator types is eligible (e.g. Conv,Relu).
    #[arg(long, value_delimiter = ',')]
    pub op_types: Vec<String>,
    /// Or: the paper's eligible layers of this architecture, found by the tensor names of a
    /// torchvision or timm model exported with the TorchScript exporter (or the
    /// Caffe/Lucid InceptionV1): googlenet (its pre-ReLU convolutions), resnet (conv/bn
    /// outputs), densenet (the dense blocks' and transitions' convs and norms), convnext
    /// (block outputs, depthwise convs, norms, MLP layers), vit (norms and MLP layers).
    #[arg(long, value_enum)]
    pub architecture: Option<Architecture>,
    /// Units to draw (distinct; the paper: 84 per model).
    #[arg(long, default_value_t = 84)]
    pub count: usize,
    /// Seed of the draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Height and width of the input, where the model leaves them open.
    #[arg(long, default_value_t = 224)]
    pub input_size: usize,
    #[command(flatten)]
    pub limits: LimitOptions,
}

/// Runs `exemplar sample-units`: `(layer, channel)` in draw order; the eligible layers
/// and their channel counts are reported on stderr.
pub fn sample_units(opts: &SampleOptions) -> Result<Vec<(String, usize)>, String> {
    let bytes = std::fs::read(&opts.model)
        .map_err(|e| format!("cannot read model {}: {e}", opts.model.display()))?;
    let model = exemplar_engine::onnx::decode_model(&bytes).map_err(|e| e.to_string())?;
    let layers: Vec<String> = if let Some(arch) = opts.architecture {
        let nodes: Vec<(&str, &String)> = model
            .graph
            .iter()
            .flat_map(|g| &g.node)
            .filter(|n| n.op_type != "Constant")
            .filter_map(|n| Some((n.op_type.as_str(), n.output.first()?)))
            .collect();
        // The last node of each module (its output).
        let module = |name: &str| name.rsplit_once('/').map_or("", |(m, _)| m).to_string();
        let mut last_of: std::collections::HashMap<String, &String> = Default::default();
        for (_, name) in &nodes {
            last_of.insert(module(name), name);
        }
        let names: Vec<String> = nodes
            .iter()
            .filter(|(op, name)| arch.eligible(op, name, last_of.get(&module(name)) == Some(name)))
            .map(|(_, name)| (*name).clone())
            .fold(Vec::new(), |mut v, n| {
                if !v.contains(&n) {
                    v.push(n);
                }
                v
            });
        if names.is_empty() {
            return Err(format!(
                "no tensor of {} is an eligible {} layer by its name; the preset reads \
                 the module paths the TorchScript exporter writes (like \
                 /layer1/layer1.0/conv1/Conv_output_0): export with \
                 torch.onnx.export(..., dynamo=False), or name the layers with --layers",
                opts.model.display(),
                format!("{arch:?}").to_lowercase()
            ));
        }
        names
    } else if opts.layers.is_empty() {
        let mut names: Vec<String> = Vec::new();
        for node in model.graph.iter().flat_map(|g| &g.node) {
            if opts.op_types.contains(&node.op_type) {
                if let Some(out) = node.output.first().filter(|o| !names.contains(o)) {
                    names.push(out.clone());
                }
            }
        }
        if names.is_empty() {
            return Err(format!(
                "no node of type {} in {}",
                opts.op_types.join(", "),
                opts.model.display()
            ));
        }
        names
    } else {
        opts.layers.clone()
    };
    let mut channels = Vec::with_capacity(layers.len());
    for layer in &layers {
        let engine = Engine::from_model_with(&model, layer, None, &opts.limits.load_options())
            .map_err(|e| format!("{}: layer {layer}: {e}", opts.model.display()))?;
        let input: Vec<usize> = match engine.input_shape() {
            [] => vec![1, 3, opts.input_size, opts.input_size],
            decl => decl
                .iter()
                .enumerate()
                .map(|(axis, d)| {
                    d.unwrap_or(match axis {
                        0 => 1,
                        1 => 3,
                        _ => opts.input_size,
                    })
                })
                .collect(),
        };
        channels.push(
            engine
                .channels(&input)
                .map_err(|e| format!("layer {layer}: {e}"))?,
        );
    }
    eprintln!(
        "exemplar sample-units: {} eligible layers, {} channels in all",
        layers.len(),
        channels.iter().sum::<usize>()
    );
    let drawn =
        selection::sample_units(&channels, opts.count, opts.seed).map_err(|e| e.to_string())?;
    Ok(drawn
        .into_iter()
        .map(|(l, c)| (layers[l].clone(), c))
        .collect())
}
