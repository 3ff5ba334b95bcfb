//! Generates the gRPC service (`src/grpc/`) from `proto/grpc_service.proto`
//! when the `grpc` feature is on; does nothing otherwise.
//!
//! Why a build script with `protox` rather than committed generated code:
//! the `.proto` stays the single source of truth (no generated file to fall
//! out of date, no regeneration script to remember), and `protox` is a
//! protobuf compiler written in Rust, so the build needs no system `protoc`,
//! downloads nothing and works offline. Its cost — compiling protox and
//! prost-build once, a few seconds — is only paid with the `grpc` feature.

fn main() {
    #[cfg(feature = "grpc")]
    grpc::generate();
}

#[cfg(feature = "grpc")]
mod grpc {
    const PROTO: &str = "proto/grpc_service.proto";

    pub fn generate() {
        println!("cargo:rerun-if-changed={PROTO}");
        println!("cargo:rerun-if-changed=build.rs");
        let descriptors = match protox::compile([PROTO], ["proto"]) {
            Ok(fds) => fds,
            Err(e) => fail(&format!("cannot compile {PROTO}: {e}")),
        };
        let generated = tonic_prost_build::configure()
            .build_client(false)
            .build_server(true)
            .build_transport(false)
            // Tensor bytes stay `Bytes` (cheap slices) rather than `Vec<u8>`.
            .bytes(".inference.ModelInferRequest.raw_input_contents")
            .bytes(".inference.ModelInferResponse.raw_output_contents")
            // prost's codec with a bound on a request's fields (src/grpc/codec.rs).
            .codec_path("crate::grpc::codec::BoundedCodec")
            .emit_rerun_if_changed(false)
            .compile_fds(descriptors);
        if let Err(e) = generated {
            fail(&format!("cannot generate Rust code from {PROTO}: {e}"));
        }
    }

    fn fail(message: &str) -> ! {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}
