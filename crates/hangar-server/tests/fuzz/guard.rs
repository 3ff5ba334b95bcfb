//! Target `onnx_guard`: `hangar_runtime::check_self_contained`, which reads
//! every pushed or loaded model file before ONNX Runtime sees it and refuses
//! one that keeps a tensor in another file.
//!
//! Structure-aware inputs are ONNX protobufs built from generated trees
//! (graphs, nodes, attributes with tensors and subgraphs, sparse tensors,
//! training graphs, functions), with and without external tensors, then
//! damaged. Undamaged, the verdict must be exact: refused naming an external
//! tensor when the tree holds one, accepted when it holds none. Always: no
//! panic, the refusal never repeats the location the file names, the check
//! allocates nothing but its error, and it never accepts a file that a full
//! protobuf decode of the same fields (`reference`, the guard as it was
//! before fuzzing found its memory cost) refuses.

use hangar_runtime::{check_self_contained, GuardError};
use proptest::prelude::*;
use prost::encoding::{encode_key, encode_varint, WireType};

use crate::harness::{fuzz, measure, mutate, mutations, random_bytes, within_cap, Cap};

/// The walk allocates nothing whatever the file; only an error's text.
const CAP: Cap = Cap {
    per_byte: 0,
    fixed: 1024,
};

/// The file name an external tensor points to; no message may show it.
const LOCATION: &str = "secret-dir/hangar.db";

#[derive(Debug, Clone)]
struct Tensor {
    name: String,
    /// `data_location: EXTERNAL`.
    location: bool,
    /// `external_data` entries.
    entries: bool,
    raw: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Sparse {
    values: Option<Tensor>,
    indices: Option<Tensor>,
}

#[derive(Debug, Clone, Default)]
struct Attr {
    t: Option<Tensor>,
    g: Option<Graph>,
    tensors: Vec<Tensor>,
    graphs: Vec<Graph>,
    sparse: Option<Sparse>,
    sparse_tensors: Vec<Sparse>,
}

#[derive(Debug, Clone, Default)]
struct Graph {
    nodes: Vec<Vec<Attr>>,
    initializers: Vec<Tensor>,
    sparse: Vec<Sparse>,
}

#[derive(Debug, Clone)]
struct Model {
    graph: Option<Graph>,
    training: Vec<(Option<Graph>, Option<Graph>)>,
    functions: Vec<Vec<Vec<Attr>>>,
}

fn ld(tag: u32, inner: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(inner.len() as u64, out);
    out.extend_from_slice(inner);
}

fn varint(tag: u32, v: u64, out: &mut Vec<u8>) {
    encode_key(tag, WireType::Varint, out);
    encode_varint(v, out);
}

impl Tensor {
    fn external(&self) -> bool {
        self.location || self.entries
    }
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        varint(1, 4, &mut out);
        varint(2, 1, &mut out);
        ld(8, self.name.as_bytes(), &mut out);
        ld(9, &self.raw, &mut out);
        if self.entries {
            let mut entry = Vec::new();
            ld(1, b"location", &mut entry);
            ld(2, LOCATION.as_bytes(), &mut entry);
            ld(13, &entry, &mut out);
        }
        if self.location {
            varint(14, 1, &mut out);
        }
        out
    }
}

impl Sparse {
    fn tensors(&self) -> impl Iterator<Item = &Tensor> {
        self.values.iter().chain(&self.indices)
    }
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(t) = &self.values {
            ld(1, &t.encode(), &mut out);
        }
        if let Some(t) = &self.indices {
            ld(2, &t.encode(), &mut out);
        }
        out
    }
}

impl Attr {
    fn external(&self, names: &mut Vec<String>) {
        for t in self.t.iter().chain(&self.tensors) {
            push_if_external(t, names);
        }
        for s in self.sparse.iter().chain(&self.sparse_tensors) {
            s.tensors().for_each(|t| push_if_external(t, names));
        }
        for g in self.g.iter().chain(&self.graphs) {
            g.external(names);
        }
    }
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        ld(1, b"value", &mut out);
        if let Some(t) = &self.t {
            ld(5, &t.encode(), &mut out);
        }
        if let Some(g) = &self.g {
            ld(6, &g.encode(), &mut out);
        }
        for t in &self.tensors {
            ld(10, &t.encode(), &mut out);
        }
        for g in &self.graphs {
            ld(11, &g.encode(), &mut out);
        }
        if let Some(s) = &self.sparse {
            ld(22, &s.encode(), &mut out);
        }
        for s in &self.sparse_tensors {
            ld(23, &s.encode(), &mut out);
        }
        varint(20, 4, &mut out);
        out
    }
}

fn push_if_external(t: &Tensor, names: &mut Vec<String>) {
    if t.external() {
        names.push(t.name.clone());
    }
}

fn encode_node(attrs: &[Attr]) -> Vec<u8> {
    let mut out = Vec::new();
    ld(4, b"Constant", &mut out);
    for a in attrs {
        ld(5, &a.encode(), &mut out);
    }
    out
}

impl Graph {
    fn external(&self, names: &mut Vec<String>) {
        self.initializers
            .iter()
            .for_each(|t| push_if_external(t, names));
        for s in &self.sparse {
            s.tensors().for_each(|t| push_if_external(t, names));
        }
        for a in self.nodes.iter().flatten() {
            a.external(names);
        }
    }
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for n in &self.nodes {
            ld(1, &encode_node(n), &mut out);
        }
        ld(2, b"main", &mut out);
        for t in &self.initializers {
            ld(5, &t.encode(), &mut out);
        }
        for s in &self.sparse {
            ld(15, &s.encode(), &mut out);
        }
        out
    }
}

impl Model {
    /// The names of the external tensors the guard must find.
    fn external(&self) -> Vec<String> {
        let mut names = Vec::new();
        if let Some(g) = &self.graph {
            g.external(&mut names);
        }
        for g in self.training.iter().flat_map(|(a, b)| a.iter().chain(b)) {
            g.external(&mut names);
        }
        for a in self.functions.iter().flatten().flatten() {
            a.external(&mut names);
        }
        names
    }
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        varint(1, 8, &mut out);
        ld(2, b"fuzz", &mut out);
        if let Some(g) = &self.graph {
            ld(7, &g.encode(), &mut out);
        }
        for (init, algo) in &self.training {
            let mut info = Vec::new();
            if let Some(g) = init {
                ld(1, &g.encode(), &mut info);
            }
            if let Some(g) = algo {
                ld(2, &g.encode(), &mut info);
            }
            ld(20, &info, &mut out);
        }
        for nodes in &self.functions {
            let mut f = Vec::new();
            ld(1, b"f", &mut f);
            for n in nodes {
                ld(7, &encode_node(n), &mut f);
            }
            ld(25, &f, &mut out);
        }
        out
    }
}

fn tensor() -> impl Strategy<Value = Tensor> {
    (
        "[a-z]{1,6}|.{0,3}",
        prop::bool::weighted(0.04),
        prop::bool::weighted(0.04),
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(name, location, entries, raw)| Tensor {
            name,
            location,
            entries,
            raw,
        })
}

fn sparse() -> impl Strategy<Value = Sparse> {
    (prop::option::of(tensor()), prop::option::of(tensor()))
        .prop_map(|(values, indices)| Sparse { values, indices })
}

fn graph() -> impl Strategy<Value = Graph> {
    let leaf = (
        prop::collection::vec(tensor(), 0..3),
        prop::collection::vec(sparse(), 0..2),
    )
        .prop_map(|(initializers, sparse)| Graph {
            nodes: Vec::new(),
            initializers,
            sparse,
        });
    leaf.prop_recursive(4, 48, 4, |inner| {
        let attr = (
            prop::option::of(tensor()),
            prop::option::weighted(0.3, inner.clone()),
            prop::collection::vec(tensor(), 0..2),
            prop::collection::vec(inner.clone(), 0..2),
            prop::option::weighted(0.2, sparse()),
            prop::collection::vec(sparse(), 0..2),
        )
            .prop_map(|(t, g, tensors, graphs, sparse, sparse_tensors)| Attr {
                t,
                g,
                tensors,
                graphs,
                sparse,
                sparse_tensors,
            });
        (
            prop::collection::vec(prop::collection::vec(attr, 0..3), 0..4),
            prop::collection::vec(tensor(), 0..3),
            prop::collection::vec(sparse(), 0..2),
        )
            .prop_map(|(nodes, initializers, sparse)| Graph {
                nodes,
                initializers,
                sparse,
            })
    })
}

fn model() -> impl Strategy<Value = Model> {
    (
        prop::option::weighted(0.95, graph()),
        prop::collection::vec((prop::option::of(graph()), prop::option::of(graph())), 0..2),
        prop::collection::vec(
            prop::collection::vec(
                prop::collection::vec(
                    prop::option::of(tensor()).prop_map(|t| Attr {
                        t,
                        ..Attr::default()
                    }),
                    0..2,
                ),
                0..3,
            ),
            0..2,
        ),
    )
        .prop_map(|(graph, training, functions)| Model {
            graph,
            training,
            functions,
        })
}

fn check_refusal(result: &Result<(), GuardError>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        let message = e.to_string();
        prop_assert!(!message.contains(LOCATION), "{}", message);
        prop_assert!(!message.is_empty());
    }
    Ok(())
}

/// A graph of many copies of the smallest message of one kind (an empty
/// node, a node with one empty attribute, an empty initializer): what costs
/// the decoder most memory per byte of file.
fn flood() -> impl Strategy<Value = Vec<u8>> {
    (0usize..3, 1usize..4000).prop_map(|(kind, n)| {
        let one: &[u8] = match kind {
            0 => &[0x0a, 0x00],
            1 => &[0x0a, 0x02, 0x2a, 0x00],
            _ => &[0x2a, 0x00],
        };
        let graph = one.repeat(n);
        let mut model = Vec::new();
        varint(1, 8, &mut model);
        ld(7, &graph, &mut model);
        model
    })
}

#[test]
fn fuzz_onnx_guard() {
    let structured = (model(), mutations(4)).prop_map(|(m, damage)| (Some(m), damage));
    let random = prop_oneof![random_bytes(2048), flood()]
        .prop_map(|b| (None, vec![crate::harness::Mutation::Insert(0, b)]));
    fuzz(
        "onnx_guard",
        3000,
        prop_oneof![1 => random, 4 => structured],
        |(model, damage)| {
            let bytes = match &model {
                Some(m) => mutate(m.encode(), &damage),
                None => mutate(Vec::new(), &damage),
            };
            let (result, peak) = measure(|| check_self_contained(&bytes));
            check_refusal(&result)?;
            agrees_with_reference(&bytes, &result)?;
            if let (Some(m), true) = (&model, damage.is_empty()) {
                let external = m.external();
                match (&m.graph, external.is_empty()) {
                    (None, _) => prop_assert_eq!(&result, &Err(GuardError::NoGraph)),
                    (Some(_), true) => prop_assert_eq!(&result, &Ok(())),
                    (Some(_), false) => match &result {
                        Err(GuardError::ExternalData { tensor }) => prop_assert!(
                            external.iter().any(|n| {
                                let shown: String =
                                    n.chars().filter(|c| !c.is_control()).take(64).collect();
                                shown == *tensor
                            }),
                            "named {:?}, external: {:?}",
                            tensor,
                            external
                        ),
                        other => prop_assert!(
                            false,
                            "expected a refusal naming one of {:?}, got {:?}",
                            external,
                            other
                        ),
                    },
                }
            }
            within_cap("onnx_guard", peak, bytes.len(), CAP)
        },
    );
}

/// Regression: decoding the file into structs held about 250 bytes per
/// byte of a graph of empty attributes (70 KB for 277 bytes; a 2 GB upload
/// could ask for hundreds of GB). The walk holds nothing.
#[test]
fn a_graph_of_empty_attributes_costs_no_memory() {
    let graph = [0x0a, 0x02, 0x2a, 0x00].repeat(100_000);
    let mut model = Vec::new();
    varint(1, 8, &mut model);
    ld(7, &graph, &mut model);
    let (result, peak) = measure(|| check_self_contained(&model));
    assert_eq!(result, Ok(()));
    assert!(peak <= CAP.of(model.len()), "held {peak} bytes");
}

/// Graphs nested through `If` attributes, deeper than any model needs:
/// refused by the decoder's recursion limit, not by a stack overflow, at
/// any depth.
#[test]
fn fuzz_onnx_guard_deep_nesting() {
    fuzz(
        "onnx_guard_nesting",
        100,
        (1usize..400, any::<bool>()),
        |(depth, external)| {
            let mut graph = Graph {
                initializers: vec![Tensor {
                    name: "w".into(),
                    location: external,
                    entries: false,
                    raw: vec![1],
                }],
                ..Graph::default()
            }
            .encode();
            for _ in 0..depth {
                let mut attr = Vec::new();
                ld(6, &graph, &mut attr);
                let mut node = Vec::new();
                ld(5, &attr, &mut node);
                graph = Vec::new();
                ld(1, &node, &mut graph);
            }
            let mut model = Vec::new();
            varint(1, 8, &mut model);
            ld(7, &graph, &mut model);
            let (result, peak) = measure(|| check_self_contained(&model));
            check_refusal(&result)?;
            agrees_with_reference(&model, &result)?;
            prop_assert!(
                matches!(
                    result,
                    Err(GuardError::Malformed(_)) | Err(GuardError::ExternalData { .. }) | Ok(())
                ),
                "{:?}",
                result
            );
            if !external {
                prop_assert!(result.is_ok() || matches!(result, Err(GuardError::Malformed(_))));
            }
            within_cap("onnx_guard_nesting", peak, model.len(), CAP)
        },
    );
}

/// The guard as it was: prost decodes the fields that can name a file into
/// structs, then they are walked. Kept as the reference the streaming walk
/// must agree with.
mod reference {
    use prost::Message;

    #[derive(Clone, PartialEq, Message)]
    pub struct ModelProto {
        #[prost(message, optional, tag = "7")]
        pub graph: Option<GraphProto>,
        #[prost(message, repeated, tag = "20")]
        pub training_info: Vec<TrainingInfoProto>,
        #[prost(message, repeated, tag = "25")]
        pub functions: Vec<FunctionProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct TrainingInfoProto {
        #[prost(message, optional, tag = "1")]
        pub initialization: Option<GraphProto>,
        #[prost(message, optional, tag = "2")]
        pub algorithm: Option<GraphProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct FunctionProto {
        #[prost(message, repeated, tag = "7")]
        pub node: Vec<NodeProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<NodeProto>,
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<TensorProto>,
        #[prost(message, repeated, tag = "15")]
        pub sparse_initializer: Vec<SparseTensorProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct NodeProto {
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<AttributeProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct AttributeProto {
        #[prost(message, optional, tag = "5")]
        pub t: Option<TensorProto>,
        #[prost(message, optional, boxed, tag = "6")]
        pub g: Option<Box<GraphProto>>,
        #[prost(message, repeated, tag = "10")]
        pub tensors: Vec<TensorProto>,
        #[prost(message, repeated, tag = "11")]
        pub graphs: Vec<GraphProto>,
        #[prost(message, optional, tag = "22")]
        pub sparse_tensor: Option<SparseTensorProto>,
        #[prost(message, repeated, tag = "23")]
        pub sparse_tensors: Vec<SparseTensorProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct SparseTensorProto {
        #[prost(message, optional, tag = "1")]
        pub values: Option<TensorProto>,
        #[prost(message, optional, tag = "2")]
        pub indices: Option<TensorProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct TensorProto {
        #[prost(bytes = "vec", tag = "8")]
        pub name: Vec<u8>,
        #[prost(message, repeated, tag = "13")]
        pub external_data: Vec<Empty>,
        #[prost(int32, tag = "14")]
        pub data_location: i32,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Empty {}

    /// The verdict: `Err(None)` malformed, `Err(Some(..))` refused for that
    /// reason, `Ok` accepted.
    pub fn verdict(bytes: &[u8]) -> Result<(), Option<&'static str>> {
        if bytes.get(4..8) == Some(b"ORTM".as_slice()) {
            return Err(Some("ort"));
        }
        let model = ModelProto::decode(bytes).map_err(|_| None)?;
        let graph = model.graph.as_ref().ok_or(Some("no graph"))?;
        let mut external = graph_external(graph);
        for info in &model.training_info {
            for g in [&info.initialization, &info.algorithm]
                .into_iter()
                .flatten()
            {
                external |= graph_external(g);
            }
        }
        for f in &model.functions {
            external |= nodes_external(&f.node);
        }
        if external {
            return Err(Some("external"));
        }
        Ok(())
    }

    fn graph_external(g: &GraphProto) -> bool {
        g.initializer.iter().any(tensor_external)
            || g.sparse_initializer.iter().any(sparse_external)
            || nodes_external(&g.node)
    }

    fn nodes_external(nodes: &[NodeProto]) -> bool {
        nodes.iter().flat_map(|n| &n.attribute).any(|a| {
            a.t.iter().chain(&a.tensors).any(tensor_external)
                || a.sparse_tensor
                    .iter()
                    .chain(&a.sparse_tensors)
                    .any(sparse_external)
                || a.g.iter().any(|g| graph_external(g))
                || a.graphs.iter().any(graph_external)
        })
    }

    fn sparse_external(s: &SparseTensorProto) -> bool {
        s.values.iter().chain(&s.indices).any(tensor_external)
    }

    fn tensor_external(t: &TensorProto) -> bool {
        t.data_location == 1 || !t.external_data.is_empty()
    }
}

/// The walk's verdict in the reference's terms.
fn verdict(result: &Result<(), GuardError>) -> Result<(), Option<&'static str>> {
    match result {
        Ok(()) => Ok(()),
        Err(GuardError::Malformed(_)) => Err(None),
        Err(GuardError::OrtFormat) => Err(Some("ort")),
        Err(GuardError::NoGraph) => Err(Some("no graph")),
        Err(GuardError::ExternalData { .. }) => Err(Some("external")),
    }
}

/// The walk agrees with the reference, except that it may refuse a tensor
/// that protobuf would merge from two occurrences of one field (the first
/// external, the second not): stricter, never laxer.
fn agrees_with_reference(
    bytes: &[u8],
    result: &Result<(), GuardError>,
) -> Result<(), TestCaseError> {
    let want = reference::verdict(bytes);
    let got = verdict(result);
    if got != want && !(got == Err(Some("external")) && want == Ok(())) {
        return Err(TestCaseError::fail(format!(
            "the walk says {got:?} where a full decode says {want:?}"
        )));
    }
    Ok(())
}
