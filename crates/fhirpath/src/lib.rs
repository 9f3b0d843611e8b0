//! FHIRPath (N1, with the FHIR R4 additions) over the element model.
//!
//! - [`parser`]: text → [`Expr`], with byte offsets and plain syntax errors;
//! - [`model`]: the FHIR type model (element types, choices, backbones) from base
//!   StructureDefinitions, so navigation is typed (`value` finds `valueQuantity`, `is(Quantity)`);
//! - [`value`]: System values — exact decimals, partial-precision dates and times, quantities;
//! - [`eval`]: the evaluator and function library;
//!
//! Compile once, evaluate many times: [`Compiled`] is immutable and `Send + Sync`, and
//! [`Cache`] keys compiled expressions by their text. Evaluation is synchronous and never
//! copies the input.
//!
//! Invariants: evaluation never panics on any expression or input (errors are [`Error`]);
//! decimals never pass through `f64`.

use spfhir_element as json;

pub mod eval;
pub mod fast;
pub mod func;
pub mod model;
pub mod parser;
mod set;
pub mod value;

use std::sync::Arc;

pub use eval::{Budget, Coll, Env, EvalError, EvalErrorKind, Services};
pub use func::Func;
pub use model::Model;
pub use parser::{Expr, SyntaxError};
pub use value::{Node, Temporal, TemporalKind, Value};

use crate::json::Json;

/// The stack a thread evaluating expressions should have: enough for the deepest tree the
/// parser builds ([`parser::MAX_TREE_DEPTH`]) in an unoptimised build (about 30 KB a level
/// there, under 10 KB in release), with room for the caller's own recursion. Threads a
/// front end spawns to evaluate or validate use it; it costs address space, not memory.
pub const STACK_SIZE: usize = 16 << 20;

/// A FHIRPath failure: a syntax error, or a semantic/execution error in evaluation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    #[error("{0}")]
    Eval(#[from] EvalError),
}

/// A parsed expression, ready to evaluate any number of times.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub text: String,
    pub expr: Expr,
    /// The JSON-level fast form, when the expression has one (see [`fast`]).
    pub fast: Option<fast::Fast>,
}

impl Compiled {
    pub fn new(text: &str) -> Result<Compiled, SyntaxError> {
        let expr = parser::parse(text)?;
        Ok(Compiled {
            text: text.to_string(),
            fast: fast::Fast::compile(&expr),
            expr,
        })
    }

    /// Evaluate with `resource` as the focus, `%resource` and `%context`.
    pub fn evaluate<'a>(&self, resource: &'a Json, env: &Env<'a>) -> Result<Coll<'a>, EvalError> {
        eval::evaluate(&self.expr, vec![eval::root_node(resource, env.model)], env)
    }

    /// Evaluate against a focus collection (e.g. an element inside a resource).
    pub fn evaluate_on<'a>(&self, focus: Coll<'a>, env: &Env<'a>) -> Result<Coll<'a>, EvalError> {
        eval::evaluate(&self.expr, focus, env)
    }
}

/// Compiled expressions keyed by their text, shared across threads. Bounded: past its
/// capacity the least recently useful expressions are dropped (and compiled again if met
/// again), so a stream of distinct texts cannot grow it without limit.
pub struct Cache {
    map: quick_cache::sync::Cache<String, Arc<Compiled>>,
}

impl Cache {
    /// The capacity [`Cache::default`] gives.
    pub const DEFAULT_CAPACITY: usize = 8192;

    /// A cache holding at most `capacity` compiled expressions.
    pub fn with_capacity(capacity: usize) -> Cache {
        Cache {
            map: quick_cache::sync::Cache::new(capacity.max(1)),
        }
    }

    pub fn get(&self, text: &str) -> Result<Arc<Compiled>, SyntaxError> {
        if let Some(c) = self.map.get(text) {
            return Ok(c);
        }
        let c = Arc::new(Compiled::new(text)?);
        self.map.insert(text.to_string(), c.clone());
        Ok(c)
    }

    /// How many compiled expressions are held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Default for Cache {
    fn default() -> Cache {
        Cache::with_capacity(Cache::DEFAULT_CAPACITY)
    }
}

/// The result collection as JSON: nodes as their JSON, System values as JSON scalars
/// (decimals as exact numbers) or, for dates, times and quantities, their FHIRPath text.
pub fn result_json(result: &Coll<'_>) -> Json {
    let mut arr = Json::arr();
    for v in result {
        arr = arr.item(match v {
            Value::Node(n) => match (n.json, n.ext) {
                (Some(j), _) => j.clone(),
                (None, Some(e)) => e.clone(),
                (None, None) => Json::new(json::Kind::Null),
            },
            Value::Bool(b) => Json::from(*b),
            Value::Int(i) => Json::from(*i),
            Value::Dec(d) => Json::number_text(d.to_string()),
            Value::Str(s) => Json::from(s.as_str()),
            other => Json::from(eval::to_string(other).unwrap_or_default().as_str()),
        });
    }
    arr
}
