//! A server's store read as Bulk Data NDJSON: every current resource of one type, one per
//! line, paged by id (keyset paging, so a page never repeats or skips a resource while the
//! server goes on writing). What `spfhir outcomes --store` reads instead of files.

use std::io::Read;
use std::sync::Arc;

use spfhir_store::{Order, Query, Store};

/// Resources fetched per round trip.
const PAGE: usize = 2000;

pub struct StoreLines {
    runtime: Arc<tokio::runtime::Runtime>,
    store: Arc<dyn Store>,
    query: Query,
    buf: Vec<u8>,
    at: usize,
    done: bool,
}

impl StoreLines {
    pub fn new(
        runtime: Arc<tokio::runtime::Runtime>,
        store: Arc<dyn Store>,
        ty: &str,
    ) -> StoreLines {
        let mut query = Query::new(ty);
        query.order = Order::Id;
        query.count = PAGE;
        StoreLines {
            runtime,
            store,
            query,
            buf: Vec::new(),
            at: 0,
            done: false,
        }
    }

    /// The next page as lines; `false` when there is none.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.done {
            return Ok(false);
        }
        let page = self
            .runtime
            .block_on(self.store.search(&self.query))
            .map_err(|e| std::io::Error::other(format!("reading the store: {e}")))?;
        self.buf.clear();
        self.at = 0;
        for r in &page.records {
            // Stored as received, so perhaps over several lines: one line each here.
            if r.body.contains('\n') {
                let one_line = spfhir_element::parse(&r.body)
                    .map(|t| t.to_compact())
                    .unwrap_or_else(|_| r.body.replace(['\n', '\r'], " "));
                self.buf.extend_from_slice(one_line.as_bytes());
            } else {
                self.buf.extend_from_slice(r.body.as_bytes());
            }
            self.buf.push(b'\n');
        }
        match page.next {
            Some(cursor) if !page.records.is_empty() => self.query.after = Some(cursor),
            _ => self.done = true,
        }
        Ok(!self.buf.is_empty())
    }
}

impl Read for StoreLines {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.buf.len() {
            if !self.fill()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
