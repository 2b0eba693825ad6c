//! Where async AWS calls run for the synchronous validation code: a runtime of the caller's own
//! (from plain code) or an existing one (from a blocking task of a runtime).

pub(crate) enum Rt {
    Own(tokio::runtime::Runtime),
    Shared(tokio::runtime::Handle),
}

impl Rt {
    pub(crate) fn own() -> Result<Rt, String> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map(Rt::Own)
            .map_err(|e| format!("cannot start the async runtime: {e}"))
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match self {
            Rt::Own(rt) => rt.block_on(f),
            Rt::Shared(h) => h.block_on(f),
        }
    }
}
