//! Evaluate a parsed expression over the element tree. Synchronous; collections are `Vec`s of
//! borrowed nodes and small System values, so evaluation copies no input.

use std::cmp::Ordering;
use std::collections::HashMap;

use compact_str::{CompactString, ToCompactString, format_compact};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, MathematicalOps, RoundingStrategy};
use smallvec::SmallVec;

use super::func::Func;
use super::model::Model;
use super::parser::{BinOp, Expr, ExprKind, Lit, TypeSpec};
use super::set::Distinct;
use super::value::{Node, Temporal, TemporalKind, Value, calendar_unit, compare_quantities};
use crate::json::{Json, Kind};

pub type Coll<'a> = Vec<Value<'a>>;

/// The two ways an evaluation fails, as the FHIRPath specification names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalErrorKind {
    /// The expression does not fit the model (`Patient.nmae`, a string where a number is
    /// needed).
    Semantic,
    /// The data made it fail (a collection of two where one was needed).
    Execution,
    /// It went past its [`Budget`].
    Budget,
}

impl EvalErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EvalErrorKind::Semantic => "semantic",
            EvalErrorKind::Execution => "execution",
            EvalErrorKind::Budget => "budget",
        }
    }
}

impl std::fmt::Display for EvalErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an evaluation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub kind: EvalErrorKind,
    pub message: String,
    pub offset: u32,
}

/// Terminology and profile checks the engine cannot do alone (`memberOf`, `conformsTo`).
/// `None` means "cannot tell", which evaluates to empty.
pub trait Services {
    fn member_of(&self, system: Option<&str>, code: &str, value_set: &str) -> Option<bool>;
    fn conforms_to(
        &self,
        resource: &Json,
        resource_type: &str,
        profile: &str,
    ) -> Result<bool, String>;
}

/// Answers `memberOf`: `Some(true)` or `Some(false)`, or `None` when it cannot tell (a
/// ValueSet that cannot be enumerated offline).
pub trait CodeMembership {
    fn member_of(&self, system: Option<&str>, code: &str, value_set: &str) -> Option<bool>;
}

/// The services the base model and a terminology give: `conformsTo` a core resource or
/// type definition (by derivation), `memberOf` through [`CodeMembership`] (spfhir's offline
/// terminology implements it).
pub struct BaseServices<'m> {
    pub model: &'m Model,
    pub terminology: Option<&'m dyn CodeMembership>,
}

const CORE_SD: &str = "http://hl7.org/fhir/StructureDefinition/";

impl Services for BaseServices<'_> {
    fn member_of(&self, system: Option<&str>, code: &str, value_set: &str) -> Option<bool> {
        self.terminology?.member_of(system, code, value_set)
    }
    fn conforms_to(&self, _: &Json, resource_type: &str, profile: &str) -> Result<bool, String> {
        match profile.strip_prefix(CORE_SD) {
            Some(t) if self.model.knows(t) => Ok(self.model.derives_from(resource_type, t)),
            _ => Err(format!("profile {profile} is not loaded")),
        }
    }
}

/// What an evaluation runs against: the model, the standard environment variables, and
/// any user variables (`%name`).
pub struct Env<'a> {
    pub model: &'a Model,
    pub resource: Option<&'a Json>,
    pub root_resource: Option<&'a Json>,
    /// The Bundle the resource travels in, for `resolve()` of references between entries.
    pub bundle: Option<&'a Json>,
    pub vars: HashMap<CompactString, Coll<'a>>,
    pub services: Option<&'a dyn Services>,
    /// `now()`; fixed for one evaluation, as the spec requires.
    pub now: Temporal,
    /// When set, `trace()` output is collected here.
    pub traces: std::cell::RefCell<Vec<(String, usize)>>,
    /// What one evaluation may spend.
    pub budget: Budget,
    /// `as` (operator and function) on several items keeps those of the type instead of
    /// failing. R4's own definitions need it (`dom-3` applies `descendants().as(canonical)`,
    /// search parameters `value as Quantity` to lists), and the HL7 validator evaluates them
    /// so; the FHIRPath suite wants the error, so it is off unless a caller asks.
    pub lenient_as: bool,
}

/// What one evaluation may spend, so an expression from the data (a Questionnaire's
/// `enableWhenExpression`, a profile's invariant) cannot exhaust time or memory: going past
/// any bound fails that evaluation with an [`EvalErrorKind::Budget`] error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Sub-expressions evaluated (a loop over a collection counts each pass).
    pub steps: u64,
    /// Items in any one collection.
    pub items: usize,
    /// Bytes in any one string.
    pub string_bytes: usize,
}

impl Default for Budget {
    /// Ample for every R4, UK Core and BaRS invariant on large resources (they take a few
    /// thousand steps), small enough to stop a runaway at once.
    fn default() -> Budget {
        Budget {
            steps: 10_000_000,
            items: 1_000_000,
            string_bytes: 1 << 20,
        }
    }
}

impl<'a> Env<'a> {
    pub fn new(model: &'a Model) -> Env<'a> {
        Env {
            model,
            resource: None,
            root_resource: None,
            bundle: None,
            vars: HashMap::new(),
            services: None,
            now: now(),
            traces: Default::default(),
            budget: Budget::default(),
            lenient_as: false,
        }
    }
}

fn now() -> Temporal {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Temporal::from_unix_ms(ms)
}

/// `$this`, `$index` and `$total` inside a function argument.
#[derive(Clone)]
struct Frame<'a> {
    this: Option<Value<'a>>,
    index: Option<i64>,
    total: Option<Coll<'a>>,
}

type R<'a> = Result<Coll<'a>, EvalError>;

fn over_budget(offset: u32, what: String) -> EvalError {
    EvalError {
        kind: EvalErrorKind::Budget,
        message: format!("the expression went past its budget: {what}"),
        offset,
    }
}

fn semantic(offset: u32, message: impl Into<String>) -> EvalError {
    EvalError {
        kind: EvalErrorKind::Semantic,
        message: message.into(),
        offset,
    }
}
fn execution(offset: u32, message: impl Into<String>) -> EvalError {
    EvalError {
        kind: EvalErrorKind::Execution,
        message: message.into(),
        offset,
    }
}

/// Evaluate `expr` with `input` as the focus.
pub fn evaluate<'a>(expr: &Expr, input: Coll<'a>, env: &Env<'a>) -> R<'a> {
    let frame = Frame {
        this: None,
        index: None,
        total: None,
    };
    Eval {
        env,
        steps: std::cell::Cell::new(0),
        mixed: std::cell::Cell::new(0),
    }
    .eval(expr, &input, &frame)
}

/// Wrap a resource (or any JSON) as a typed node, its type from `resourceType`.
pub fn root_node<'a>(json: &'a Json, model: &'a Model) -> Value<'a> {
    let ty = json
        .get("resourceType")
        .and_then(Json::as_str)
        .filter(|t| model.knows(t))
        .unwrap_or("");
    Value::Node(Node {
        json: Some(json),
        ext: None,
        ty,
    })
}

/// A resource's own node and every element below it, typed: what invariants are checked on.
pub fn elements<'a>(resource: &'a Json, env: &Env<'a>) -> Coll<'a> {
    let root = root_node(resource, env.model);
    let mut out = vec![root.clone()];
    out.extend(
        Eval {
            env,
            steps: std::cell::Cell::new(0),
            mixed: std::cell::Cell::new(0),
        }
        .descendants(&vec![root]),
    );
    out
}

/// The type whose definition's invariants apply to a node (`BackboneElement` for an
/// element declared inline).
pub fn definition_type<'a>(n: &Node<'a>) -> &'a str {
    if n.ty.contains('.') {
        "BackboneElement"
    } else {
        n.ty
    }
}

struct Eval<'e, 'a> {
    env: &'e Env<'a>,
    /// Sub-expressions evaluated so far, against `env.budget.steps`.
    steps: std::cell::Cell<u64>,
    /// Inside how many lambdas (`where`, `select`, …) over items of different types: there
    /// `$this` is statically any of them, so an element one of them lacks is empty, not an
    /// error (`descendants().where(reference = '#')`, in R4's `dom-3`).
    mixed: std::cell::Cell<u32>,
}

impl<'a> Eval<'_, 'a> {
    /// Evaluate `e`, within the budget: each call is a step, and no collection or string
    /// it gives may be larger than the budget allows.
    fn eval(&self, e: &Expr, focus: &Coll<'a>, f: &Frame<'a>) -> R<'a> {
        let steps = self.steps.get() + 1 + focus.len() as u64 / 64;
        self.steps.set(steps);
        let budget = &self.env.budget;
        if steps > budget.steps {
            return Err(over_budget(
                e.offset,
                format!("more than {} steps", budget.steps),
            ));
        }
        let out = self.eval_step(e, focus, f)?;
        if out.len() > budget.items {
            return Err(over_budget(
                e.offset,
                format!("a collection of more than {} items", budget.items),
            ));
        }
        Ok(out)
    }

    /// `r`, unless it holds a string longer than the budget allows. Applied where strings
    /// are made (concatenation, the string functions, `join`), not on every result.
    fn strings_within(&self, r: R<'a>, off: u32) -> R<'a> {
        let max = self.env.budget.string_bytes;
        if let Ok(out) = &r
            && out
                .iter()
                .any(|v| matches!(v, Value::Str(s) if s.len() > max))
        {
            return Err(over_budget(
                off,
                format!("a string of more than {max} bytes"),
            ));
        }
        r
    }

    /// A collection being built may hold `len` items: an error once that is past the budget
    /// (checked as it grows, so `select()` of a large collection per item stops early).
    fn room(&self, len: usize, off: u32) -> Result<(), EvalError> {
        let max = self.env.budget.items;
        if len > max {
            return Err(over_budget(
                off,
                format!("a collection of more than {max} items"),
            ));
        }
        Ok(())
    }

    fn eval_step(&self, e: &Expr, focus: &Coll<'a>, f: &Frame<'a>) -> R<'a> {
        let off = e.offset;
        match &e.kind {
            ExprKind::Lit(l) => Ok(match l {
                Lit::Empty => vec![],
                Lit::Bool(b) => vec![Value::Bool(*b)],
                Lit::Str(s) => vec![Value::Str(s.clone())],
                Lit::Int(i) => vec![Value::Int(*i)],
                Lit::Dec(d) => vec![Value::Dec(*d)],
                Lit::Temporal(t) => vec![Value::Temporal(*t)],
                Lit::Quantity(v, u) => vec![Value::Quantity(*v, normalise_unit(u))],
            }),
            ExprKind::Invalid(why) => Err(execution(off, why.as_str())),
            ExprKind::Ident(name) => self.ident(name, focus, off),
            ExprKind::Member(target, name) => {
                if let ExprKind::As(_, ty) = &target.kind
                    && self.env.model.knows(&ty.name)
                    && !self.env.model.is_primitive(&ty.name)
                    && self.env.model.element(&ty.name, name).is_none()
                {
                    return Err(semantic(
                        off,
                        format!("{} has no element '{name}'", ty.name),
                    ));
                }
                let base = self.eval(target, focus, f)?;
                self.members(&base, name, off)
            }
            ExprKind::Index(target, index) => {
                let base = self.eval(target, focus, f)?;
                let i = self.eval(index, focus, f)?;
                match self.single(&i, off)?.as_ref().map(as_int) {
                    None => Ok(vec![]),
                    Some(Some(i)) if i >= 0 => {
                        Ok(base.into_iter().nth(i as usize).into_iter().collect())
                    }
                    Some(Some(_)) => Ok(vec![]),
                    Some(None) => Err(execution(off, "an index must be an integer")),
                }
            }
            ExprKind::Call(target, func, args) => {
                let base = match target {
                    Some(t) => self.eval(t, focus, f)?,
                    None => focus.clone(),
                };
                self.call(*func, base, args, focus, f, off)
            }
            ExprKind::Var(name) => self.var(name, off),
            ExprKind::This => Ok(f.this.clone().map_or_else(|| focus.clone(), |t| vec![t])),
            ExprKind::IndexVar => Ok(f.index.map(Value::Int).into_iter().collect()),
            ExprKind::Total => Ok(f.total.clone().unwrap_or_default()),
            ExprKind::Neg(inner) => {
                let v = self.eval(inner, focus, f)?;
                let Some(v) = self.single_prim(&v, off)? else {
                    return Ok(vec![]);
                };
                Ok(vec![match v {
                    // -(i64::MIN) is not an integer: empty, never a wrap or a panic.
                    Value::Int(i) => match i.checked_neg() {
                        Some(n) => Value::Int(n),
                        None => return Ok(vec![]),
                    },
                    Value::Dec(d) => Value::Dec(-d),
                    Value::Quantity(d, u) => Value::Quantity(-d, u),
                    _ => return Err(execution(off, "unary minus needs a number or quantity")),
                }])
            }
            ExprKind::Bin(op, l, r) => self.binary(*op, l, r, focus, f, off),
            ExprKind::Is(inner, ty) => {
                self.check_type(ty, off)?;
                let v = self.eval(inner, focus, f)?;
                if v.len() > 1 {
                    return Err(execution(off, "'is' needs a single item"));
                }
                Ok(v.first()
                    .map(|v| Value::Bool(self.is_type(v, ty)))
                    .into_iter()
                    .collect())
            }
            ExprKind::As(inner, ty) => {
                self.check_type(ty, off)?;
                let v = self.eval(inner, focus, f)?;
                if v.len() > 1 && !self.env.lenient_as {
                    return Err(execution(off, "'as' needs a single item"));
                }
                Ok(v.into_iter().filter(|v| self.as_type(v, ty)).collect())
            }
        }
    }

    fn var(&self, name: &str, off: u32) -> R<'a> {
        let env = self.env;
        let node = |j: Option<&'a Json>| j.map(|j| root_node(j, env.model)).into_iter().collect();
        Ok(match name {
            "resource" => node(env.resource),
            "rootResource" => node(env.root_resource.or(env.resource)),
            "context" => node(env.resource),
            "ucum" => vec![Value::Str("http://unitsofmeasure.org".into())],
            "sct" => vec![Value::Str("http://snomed.info/sct".into())],
            "loinc" => vec![Value::Str("http://loinc.org".into())],
            _ => {
                if let Some(v) = env.vars.get(name) {
                    return Ok(v.clone());
                }
                if let Some(vs) = name.strip_prefix("vs-") {
                    return Ok(vec![Value::Str(format_compact!(
                        "http://hl7.org/fhir/ValueSet/{vs}"
                    ))]);
                }
                if let Some(ext) = name.strip_prefix("ext-") {
                    return Ok(vec![Value::Str(format_compact!(
                        "http://hl7.org/fhir/StructureDefinition/{ext}"
                    ))]);
                }
                return Err(semantic(off, format!("unknown variable %{name}")));
            }
        })
    }

    /// A name at the start of a path: the input's type name selects the input itself.
    fn ident(&self, name: &str, focus: &Coll<'a>, off: u32) -> R<'a> {
        if name.starts_with(|c: char| c.is_ascii_uppercase()) && self.env.model.knows(name) {
            let typed: Vec<&Value> = focus
                .iter()
                .filter(|v| matches!(v, Value::Node(n) if !n.ty.is_empty()))
                .collect();
            if !typed.is_empty() {
                let matching: Coll<'a> = focus
                    .iter()
                    .filter(
                        |v| matches!(v, Value::Node(n) if self.env.model.derives_from(n.ty, name)),
                    )
                    .cloned()
                    .collect();
                if matching.is_empty() && self.env.model.is_resource(name) {
                    let is_resource = typed
                        .iter()
                        .any(|v| matches!(v, Value::Node(n) if self.env.model.is_resource(n.ty)));
                    if is_resource {
                        return Err(semantic(
                            off,
                            format!("the input is a {}, not a {name}", typed[0].type_name()),
                        ));
                    }
                }
                if !matching.is_empty() {
                    return Ok(matching);
                }
            }
        }
        self.members(focus, name, off)
    }

    /// Children named `name` of every node in `base`.
    fn members(&self, base: &Coll<'a>, name: &str, off: u32) -> R<'a> {
        let mut out = Vec::new();
        // An element no item's type has is an error only when every typed item lacks it
        // (a mixed collection, e.g. from descendants(), is navigated where it can be).
        let mut missing = None;
        let mut found_any = false;
        for v in base {
            match v {
                Value::Node(n) => match self.child(n, name, &mut out, off) {
                    Ok(()) => found_any = true,
                    Err(e) => missing = missing.or(Some(e)),
                },
                Value::Type(ns, n) => match name {
                    "namespace" => out.push(Value::Str(ns.clone())),
                    "name" => out.push(Value::Str(n.clone())),
                    _ => {}
                },
                _ => {}
            }
        }
        match missing {
            Some(e) if !found_any && self.mixed.get() == 0 => Err(e),
            _ => Ok(out),
        }
    }

    fn child(
        &self,
        n: &Node<'a>,
        name: &str,
        out: &mut Coll<'a>,
        off: u32,
    ) -> Result<(), EvalError> {
        let model = self.env.model;
        // A primitive's id and extensions live in its `_name` sibling.
        let holder = match (n.json, n.ext) {
            (Some(j), _) if matches!(j.kind, Kind::Object(_)) => j,
            (_, Some(e)) => e,
            _ => return Ok(()),
        };
        let def = if n.ty.is_empty() {
            None
        } else {
            model.element(n.ty, name)
        };
        match def {
            Some(def) if def.choice => {
                // Only members present can match: read the holder's keys (`valueCoding`,
                // `_valueString`) instead of building `name + Type` for each of up to 50
                // types. Matches are taken in the definition's type order, as before.
                let mut found: SmallVec<[(usize, &'a str); 2]> = SmallVec::new();
                for (key, _) in holder.as_object().into_iter().flat_map(|o| o.iter()) {
                    let key = key.strip_prefix('_').unwrap_or(key);
                    let Some(suffix) = key.strip_prefix(name) else {
                        continue;
                    };
                    if let Some(i) = def
                        .types
                        .iter()
                        .position(|t| Model::choice_suffix_matches(t, suffix))
                        && !found.iter().any(|(j, _)| *j == i)
                    {
                        found.push((i, key));
                    }
                }
                found.sort_unstable_by_key(|(i, _)| *i);
                for (i, key) in found {
                    push_members(holder, key, &def.types[i], model, out);
                }
            }
            Some(def) => {
                let ty = def.types.first().map(|t| t.as_str()).unwrap_or("");
                push_members(holder, name, ty, model, out);
            }
            None if !n.ty.is_empty() && model.knows(n.ty) => {
                return Err(semantic(off, format!("{} has no element '{name}'", n.ty)));
            }
            None => push_members(holder, name, "", model, out),
        }
        Ok(())
    }

    fn single(&self, c: &Coll<'a>, off: u32) -> Result<Option<Value<'a>>, EvalError> {
        match c.len() {
            0 => Ok(None),
            1 => Ok(Some(c[0].clone())),
            n => Err(execution(
                off,
                format!("expected a single item, found a collection of {n}"),
            )),
        }
    }

    /// A single item as a System value (FHIR primitives converted).
    fn single_prim(&self, c: &Coll<'a>, off: u32) -> Result<Option<Value<'a>>, EvalError> {
        Ok(self.single(c, off)?.and_then(|v| prim(&v)))
    }

    fn binary(
        &self,
        op: BinOp,
        l: &Expr,
        r: &Expr,
        focus: &Coll<'a>,
        f: &Frame<'a>,
        off: u32,
    ) -> R<'a> {
        // Boolean operators short-circuit on the left where the spec allows.
        if matches!(op, BinOp::And | BinOp::Or | BinOp::Implies | BinOp::Xor) {
            let a = self.boolean(&self.eval(l, focus, f)?, off)?;
            match (op, a) {
                (BinOp::And, Some(false)) => return Ok(vec![Value::Bool(false)]),
                (BinOp::Or, Some(true)) => return Ok(vec![Value::Bool(true)]),
                (BinOp::Implies, Some(false)) => return Ok(vec![Value::Bool(true)]),
                _ => {}
            }
            let b = self.boolean(&self.eval(r, focus, f)?, off)?;
            let out = match op {
                BinOp::And => match (a, b) {
                    (Some(true), Some(true)) => Some(true),
                    (_, Some(false)) => Some(false),
                    _ => None,
                },
                BinOp::Or => match (a, b) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
                BinOp::Xor => match (a, b) {
                    (Some(x), Some(y)) => Some(x != y),
                    _ => None,
                },
                _ => match (a, b) {
                    (Some(true), b) => b,
                    (None, Some(true)) => Some(true),
                    _ => None,
                },
            };
            return Ok(out.map(Value::Bool).into_iter().collect());
        }
        let a = self.eval(l, focus, f)?;
        let b = self.eval(r, focus, f)?;
        match op {
            BinOp::Union => Ok(a.into_iter().chain(b).collect::<Distinct>().into_items()),
            BinOp::Eq | BinOp::Ne => {
                let eq = coll_equal(&a, &b);
                Ok(eq
                    .map(|e| Value::Bool(e == (op == BinOp::Eq)))
                    .into_iter()
                    .collect())
            }
            BinOp::Equiv | BinOp::NotEquiv => {
                let eq = coll_equivalent(&a, &b);
                Ok(vec![Value::Bool(eq == (op == BinOp::Equiv))])
            }
            BinOp::In | BinOp::Contains => {
                let (item, set) = if op == BinOp::In { (&a, &b) } else { (&b, &a) };
                match self.single(item, off)? {
                    None => Ok(vec![]),
                    Some(v) => Ok(vec![Value::Bool(
                        set.iter().any(|s| equal(s, &v) == Some(true)),
                    )]),
                }
            }
            BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                let (Some(x), Some(y)) = (self.single_prim(&a, off)?, self.single_prim(&b, off)?)
                else {
                    return Ok(vec![]);
                };
                let ord = match compare(&x, &y) {
                    Ok(o) => o,
                    Err(()) => {
                        return Err(execution(
                            off,
                            format!("cannot compare {} with {}", x.type_name(), y.type_name()),
                        ));
                    }
                };
                Ok(ord
                    .map(|o| {
                        Value::Bool(match op {
                            BinOp::Lt => o == Ordering::Less,
                            BinOp::Gt => o == Ordering::Greater,
                            BinOp::Le => o != Ordering::Greater,
                            _ => o != Ordering::Less,
                        })
                    })
                    .into_iter()
                    .collect())
            }
            BinOp::Concat => {
                let s = |c: &Coll<'a>| -> Result<CompactString, EvalError> {
                    Ok(match self.single_prim(c, off)? {
                        Some(Value::Str(s)) => s,
                        Some(v) => to_string(&v).unwrap_or_default(),
                        None => CompactString::default(),
                    })
                };
                self.strings_within(
                    Ok(vec![Value::Str(format_compact!("{}{}", s(&a)?, s(&b)?))]),
                    off,
                )
            }
            _ => {
                let (Some(x), Some(y)) = (self.single_prim(&a, off)?, self.single_prim(&b, off)?)
                else {
                    return Ok(vec![]);
                };
                self.strings_within(arithmetic(op, x, y, off), off)
            }
        }
    }

    /// A collection as a Boolean: empty → `None`, one Boolean → it, one other item → `true`.
    fn boolean(&self, c: &Coll<'a>, off: u32) -> Result<Option<bool>, EvalError> {
        match self.single(c, off)? {
            None => Ok(None),
            Some(v) => match prim(&v) {
                Some(Value::Bool(b)) => Ok(Some(b)),
                _ => Ok(Some(true)),
            },
        }
    }

    /// A type name must name a FHIR type of the model or a System type.
    fn check_type(&self, spec: &TypeSpec, off: u32) -> Result<(), EvalError> {
        const SYSTEM: [&str; 9] = [
            "Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Quantity",
            "Any",
        ];
        let name = spec.name.as_str();
        let ok = match spec.namespace.as_deref() {
            // `System.X` for a non-System X is simply never matched.
            Some("System") => true,
            Some("FHIR") => self.env.model.knows(name),
            Some(_) => false,
            None => SYSTEM.contains(&name) || self.env.model.knows(name),
        };
        if ok {
            Ok(())
        } else {
            Err(execution(off, format!("unknown type '{name}'")))
        }
    }

    /// `is` follows primitive specialisation (a `code` is a `string`); `as` and `ofType` do
    /// not (`exact`), as the spec's tests require.
    fn is_type_exact(&self, v: &Value<'a>, spec: &TypeSpec, exact: bool) -> bool {
        let model = self.env.model;
        let name = spec.name.as_str();
        let ns = spec.namespace.as_deref();
        match v {
            Value::Node(n) if ns != Some("System") => {
                let ty = if n.ty.contains('.') {
                    "BackboneElement"
                } else {
                    n.ty
                };
                if ty.is_empty() {
                    return false;
                }
                if model.is_primitive(ty) {
                    return ty == name || (!exact && model.primitive_derives_from(ty, name));
                }
                model.derives_from(ty, name)
            }
            Value::Node(_) => false,
            _ if ns == Some("FHIR") => false,
            other => other.type_name() == name,
        }
    }

    fn is_type(&self, v: &Value<'a>, spec: &TypeSpec) -> bool {
        self.is_type_exact(v, spec, false)
    }

    fn as_type(&self, v: &Value<'a>, spec: &TypeSpec) -> bool {
        self.is_type_exact(v, spec, true)
    }

    fn lambda<T>(
        &self,
        base: &Coll<'a>,
        arg: &Expr,
        mut each: impl FnMut(usize, &Value<'a>, Coll<'a>) -> Result<Option<T>, EvalError>,
    ) -> Result<Option<T>, EvalError> {
        let mut types = base.iter().filter_map(|v| match v {
            Value::Node(n) if !n.ty.is_empty() => Some(n.ty),
            _ => None,
        });
        let first = types.next();
        let mixed = first.is_some_and(|t| types.any(|u| u != t));
        if mixed {
            self.mixed.set(self.mixed.get() + 1);
        }
        let r = (|| {
            for (i, item) in base.iter().enumerate() {
                let frame = Frame {
                    this: Some(item.clone()),
                    index: Some(i as i64),
                    total: None,
                };
                let r = self.eval(arg, &vec![item.clone()], &frame)?;
                if let Some(t) = each(i, item, r)? {
                    return Ok(Some(t));
                }
            }
            Ok(None)
        })();
        if mixed {
            self.mixed.set(self.mixed.get() - 1);
        }
        r
    }

    fn call(
        &self,
        func: Func,
        base: Coll<'a>,
        args: &[Expr],
        focus: &Coll<'a>,
        f: &Frame<'a>,
        off: u32,
    ) -> R<'a> {
        let name = func.name();
        // Arguments evaluated against the original focus (not the target).
        let arg = |i: usize| -> R<'a> { self.eval(&args[i], focus, f) };
        let b = |x: bool| Ok(vec![Value::Bool(x)]);
        match func {
            Func::Empty => b(base.is_empty()),
            Func::Exists => {
                if args.is_empty() {
                    return b(!base.is_empty());
                }
                let found = self.lambda(&base, &args[0], |_, _, r| {
                    Ok(self.boolean(&r, off)?.filter(|x| *x))
                })?;
                b(found.is_some())
            }
            Func::All => {
                let failed = self.lambda(&base, &args[0], |_, _, r| {
                    Ok((self.boolean(&r, off)? != Some(true)).then_some(()))
                })?;
                b(failed.is_none())
            }
            Func::AllTrue | Func::AnyTrue | Func::AllFalse | Func::AnyFalse => {
                let bools: Vec<Option<bool>> = base
                    .iter()
                    .map(|v| match prim(v) {
                        Some(Value::Bool(x)) => Some(x),
                        _ => None,
                    })
                    .collect();
                b(match func {
                    Func::AllTrue => bools.iter().all(|x| *x == Some(true)),
                    Func::AnyTrue => bools.contains(&Some(true)),
                    Func::AllFalse => bools.iter().all(|x| *x == Some(false)),
                    _ => bools.contains(&Some(false)),
                })
            }
            Func::SubsetOf | Func::SupersetOf => {
                let other = arg(0)?;
                let (sub, sup) = if func == Func::SubsetOf {
                    (&base, &other)
                } else {
                    (&other, &base)
                };
                let sup: Distinct = sup.iter().cloned().collect();
                b(sub.iter().all(|x| sup.contains(x)))
            }
            Func::Count => Ok(vec![Value::Int(base.len() as i64)]),
            Func::Distinct => Ok(base.into_iter().collect::<Distinct>().into_items()),
            Func::IsDistinct => {
                let n = base.len();
                b(base.into_iter().collect::<Distinct>().len() == n)
            }
            Func::Where => {
                let mut out = Vec::new();
                self.lambda(&base, &args[0], |_, item, r| {
                    if self.boolean(&r, off)? == Some(true) {
                        out.push(item.clone());
                    }
                    Ok(None::<()>)
                })?;
                Ok(out)
            }
            Func::Select => {
                let mut out = Vec::new();
                self.lambda(&base, &args[0], |_, _, r| {
                    out.extend(r);
                    self.room(out.len(), off)?;
                    Ok(None::<()>)
                })?;
                Ok(out)
            }
            Func::Repeat => {
                let mut out: Coll<'a> = Vec::new();
                // Nodes already given, by address; System values by value in a hashed set
                // (comparing each new item with every earlier one was quadratic). A node
                // equals a System value by value, so once values appear, the nodes given
                // are also kept by value.
                let mut seen_nodes: rustc_hash::FxHashSet<*const Json> = Default::default();
                let mut values = Distinct::default();
                let mut nodes_by_value: Option<Distinct<'a>> = None;
                let mut queue = base;
                let mut guard = 0;
                while !queue.is_empty() && guard < 10_000 {
                    guard += 1;
                    let mut next = Vec::new();
                    self.lambda(&queue, &args[0], |_, _, r| {
                        next.extend(r);
                        self.room(next.len(), off)?;
                        Ok(None::<()>)
                    })?;
                    queue = Vec::new();
                    for v in next {
                        let new = match &v {
                            Value::Node(Node { json: Some(j), .. }) => {
                                let new = seen_nodes.insert(std::ptr::from_ref(*j))
                                    && !values.contains(&v);
                                if let (true, Some(by_value)) = (new, &mut nodes_by_value) {
                                    by_value.insert(v.clone());
                                }
                                new
                            }
                            _ => {
                                let by_value = nodes_by_value.get_or_insert_with(|| {
                                    out.iter()
                                        .filter(|o| matches!(o, Value::Node(_)))
                                        .cloned()
                                        .collect()
                                });
                                !by_value.contains(&v) && values.insert(v.clone())
                            }
                        };
                        if new {
                            out.push(v.clone());
                            queue.push(v);
                        }
                    }
                }
                Ok(out)
            }
            Func::OfType => {
                let spec = type_arg(&args[0])
                    .ok_or_else(|| semantic(off, "ofType() needs a type name"))?;
                self.check_type(&spec, off)?;
                Ok(base
                    .into_iter()
                    .filter(|v| self.as_type(v, &spec))
                    .collect())
            }
            Func::Is | Func::As => {
                let spec = type_arg(&args[0])
                    .ok_or_else(|| semantic(off, format!("{name}() needs a type name")))?;
                self.check_type(&spec, off)?;
                if base.len() > 1 && !(func == Func::As && self.env.lenient_as) {
                    return Err(execution(off, format!("{name}() needs a single item")));
                }
                Ok(match (name, base.first()) {
                    (_, None) => vec![],
                    ("is", Some(v)) => vec![Value::Bool(self.is_type(v, &spec))],
                    _ => base
                        .into_iter()
                        .filter(|v| self.as_type(v, &spec))
                        .collect(),
                })
            }
            Func::Single => Ok(self.single(&base, off)?.into_iter().collect()),
            Func::First => Ok(base.into_iter().take(1).collect()),
            Func::Last => Ok(base.into_iter().last().into_iter().collect()),
            Func::Tail => Ok(base.into_iter().skip(1).collect()),
            Func::Skip | Func::Take => {
                let n = as_int(&self.single(&arg(0)?, off)?.unwrap_or(Value::Int(0)))
                    .ok_or_else(|| execution(off, format!("{name}() needs an integer")))?;
                let n = n.max(0) as usize;
                Ok(if func == Func::Skip {
                    base.into_iter().skip(n).collect()
                } else {
                    base.into_iter().take(n).collect()
                })
            }
            Func::Intersect => {
                let other: Distinct = arg(0)?.into_iter().collect();
                let mut out = Distinct::default();
                for v in base {
                    if other.contains(&v) {
                        out.insert(v);
                    }
                }
                Ok(out.into_items())
            }
            Func::Exclude => {
                let other: Distinct = arg(0)?.into_iter().collect();
                Ok(base.into_iter().filter(|v| !other.contains(v)).collect())
            }
            Func::Union => Ok(base
                .into_iter()
                .chain(arg(0)?)
                .collect::<Distinct>()
                .into_items()),
            Func::Combine => {
                let mut out = base;
                out.extend(arg(0)?);
                Ok(out)
            }
            Func::Iif => {
                if base.len() > 1 {
                    return Err(execution(
                        off,
                        "iif() on a collection of more than one item",
                    ));
                }
                let focus2: Coll<'a> = if f.this.is_some() || base.is_empty() {
                    focus.clone()
                } else {
                    base.clone()
                };
                let c = self.eval(&args[0], &focus2, f)?;
                if c.len() > 1 {
                    return Err(semantic(
                        off,
                        format!("iif() criterion must be one Boolean, not {} items", c.len()),
                    ));
                }
                let cond = match self.single(&c, off)? {
                    None => None,
                    Some(v) => match prim(&v) {
                        Some(Value::Bool(x)) => Some(x),
                        _ => return Err(semantic(off, "iif() criterion must be a Boolean")),
                    },
                };
                if cond == Some(true) {
                    self.eval(&args[1], &focus2, f)
                } else if args.len() == 3 {
                    self.eval(&args[2], &focus2, f)
                } else {
                    Ok(vec![])
                }
            }
            Func::ToBoolean
            | Func::ConvertsToBoolean
            | Func::ToInteger
            | Func::ConvertsToInteger
            | Func::ToDecimal
            | Func::ConvertsToDecimal
            | Func::ToString
            | Func::ConvertsToString
            | Func::ToDate
            | Func::ConvertsToDate
            | Func::ToDateTime
            | Func::ConvertsToDateTime
            | Func::ToTime
            | Func::ConvertsToTime
            | Func::ToQuantity
            | Func::ConvertsToQuantity => {
                let Some(v) = self.single_prim(&base, off)? else {
                    return Ok(vec![]);
                };
                let target = name
                    .trim_start_matches("convertsTo")
                    .trim_start_matches("to");
                let unit = if args.is_empty() {
                    None
                } else {
                    match self.single_prim(&arg(0)?, off)? {
                        Some(Value::Str(u)) => Some(u),
                        _ => None,
                    }
                };
                let converted = convert(&v, target, unit.as_deref());
                if name.starts_with("convertsTo") {
                    b(converted.is_some())
                } else {
                    Ok(converted.into_iter().collect())
                }
            }
            Func::IndexOf
            | Func::Substring
            | Func::StartsWith
            | Func::EndsWith
            | Func::Contains
            | Func::Upper
            | Func::Lower
            | Func::Replace
            | Func::Matches
            | Func::MatchesFull
            | Func::ReplaceMatches
            | Func::Length
            | Func::ToChars
            | Func::Split
            | Func::Trim
            | Func::Encode
            | Func::Decode
            | Func::Escape
            | Func::Unescape => {
                let Some(item) = self.single(&base, off)? else {
                    return Ok(vec![]);
                };
                let Some(Value::Str(s)) = prim(&item) else {
                    // A primitive with extensions but no value (`"_code": {…}`) has no
                    // string to work on: empty, as an empty input gives.
                    if matches!(&item, Value::Node(n) if n.json.is_none()) {
                        return Ok(vec![]);
                    }
                    return Err(semantic(
                        off,
                        format!("{name}() needs a string, not {}", item.type_name()),
                    ));
                };
                let mut sargs = Vec::new();
                for i in 0..args.len() {
                    sargs.push(self.single_prim(&arg(i)?, off)?);
                }
                self.strings_within(string_fn(name, &s, &sargs, off), off)
            }
            Func::Join => {
                let sep = if args.is_empty() {
                    CompactString::default()
                } else {
                    match self.single_prim(&arg(0)?, off)? {
                        Some(Value::Str(s)) => s,
                        _ => CompactString::default(),
                    }
                };
                let parts: Vec<String> = base
                    .iter()
                    .filter_map(|v| prim(v).and_then(|p| to_string(&p)))
                    .map(|s| s.to_string())
                    .collect();
                self.strings_within(Ok(vec![Value::Str(parts.join(&sep).into())]), off)
            }
            Func::Abs
            | Func::Ceiling
            | Func::Exp
            | Func::Floor
            | Func::Ln
            | Func::Log
            | Func::Power
            | Func::Round
            | Func::Sqrt
            | Func::Truncate => {
                let Some(v) = self.single_prim(&base, off)? else {
                    return Ok(vec![]);
                };
                let mut nargs = Vec::new();
                for i in 0..args.len() {
                    nargs.push(self.single_prim(&arg(i)?, off)?);
                }
                math_fn(name, v, &nargs, off)
            }
            Func::Children => Ok(base.iter().flat_map(|v| self.children(v)).collect()),
            Func::Descendants => Ok(self.descendants(&base)),
            Func::Trace => {
                let label = match self.single_prim(&arg(0)?, off)? {
                    Some(Value::Str(s)) => s.to_string(),
                    _ => String::new(),
                };
                self.env.traces.borrow_mut().push((label, base.len()));
                Ok(base)
            }
            Func::Now => Ok(vec![Value::Temporal(self.env.now)]),
            Func::Today => {
                let mut t = self.env.now;
                t.kind = TemporalKind::Date;
                t.precision = 3;
                t.tz = None;
                Ok(vec![Value::Temporal(t)])
            }
            Func::TimeOfDay => {
                let mut t = self.env.now;
                t.kind = TemporalKind::Time;
                t.tz = None;
                Ok(vec![Value::Temporal(t)])
            }
            Func::Aggregate => {
                let mut total: Coll<'a> = if args.len() == 2 { arg(1)? } else { vec![] };
                for (i, item) in base.iter().enumerate() {
                    let frame = Frame {
                        this: Some(item.clone()),
                        index: Some(i as i64),
                        total: Some(total.clone()),
                    };
                    total = self.eval(&args[0], &vec![item.clone()], &frame)?;
                }
                Ok(total)
            }
            Func::Type => Ok(base
                .iter()
                .map(|v| {
                    let (ns, n) = match v {
                        Value::Node(n) if n.ty.contains('.') => ("FHIR", "BackboneElement"),
                        Value::Node(n) => ("FHIR", n.ty),
                        other => ("System", other.type_name()),
                    };
                    Value::Type(ns.into(), n.into())
                })
                .collect()),
            Func::Not => Ok(self
                .boolean(&base, off)?
                .map(|x| Value::Bool(!x))
                .into_iter()
                .collect()),
            Func::Extension => {
                let url = match self.single_prim(&arg(0)?, off)? {
                    Some(Value::Str(s)) => s,
                    _ => return Ok(vec![]),
                };
                let exts = self.members(&base, "extension", off)?;
                Ok(exts.into_iter().filter(|e| matches!(e, Value::Node(n) if n.json.and_then(|j| j.get("url")).and_then(Json::as_str) == Some(url.as_str()))).collect())
            }
            Func::HasValue => b(base.len() == 1
                && matches!(&base[0], Value::Node(n) if self.env.model.is_primitive(n.ty) && n.json.is_some_and(|j| !matches!(j.kind, Kind::Null)))),
            Func::GetValue => Ok(match base.as_slice() {
                [v @ Value::Node(n)] if self.env.model.is_primitive(n.ty) => {
                    prim(v).into_iter().collect()
                }
                _ => vec![],
            }),
            Func::Resolve => Ok(base.iter().filter_map(|v| self.resolve(v)).collect()),
            Func::ConformsTo | Func::MemberOf => {
                let Some(Value::Str(url)) = self.single_prim(&arg(0)?, off)? else {
                    return Ok(vec![]);
                };
                let Some(v) = self.single(&base, off)? else {
                    return Ok(vec![]);
                };
                let Some(services) = self.env.services else {
                    return Ok(vec![]);
                };
                if func == Func::ConformsTo {
                    let Value::Node(Node {
                        json: Some(j), ty, ..
                    }) = v
                    else {
                        return b(false);
                    };
                    return services
                        .conforms_to(j, ty, &url)
                        .map(|x| vec![Value::Bool(x)])
                        .map_err(|m| execution(off, m));
                }
                let codes = coded(&v);
                if codes.is_empty() {
                    return Ok(vec![]);
                }
                let mut unknown = false;
                for (system, code) in codes {
                    match services.member_of(system.as_deref(), &code, &url) {
                        Some(true) => return b(true),
                        Some(false) => {}
                        None => unknown = true,
                    }
                }
                Ok(if unknown {
                    vec![]
                } else {
                    vec![Value::Bool(false)]
                })
            }
            // R4's narrative rules (txt-1, txt-2) on a Narrative.div value.
            Func::HtmlChecks | Func::HtmlChecksLower => {
                let Some(item) = self.single(&base, off)? else {
                    return Ok(vec![]);
                };
                b(matches!(prim(&item), Some(Value::Str(s)) if spfhir_xhtml::is_valid(&s)))
            }
            Func::LowBoundary | Func::HighBoundary => {
                let Some(v) = self.single_prim(&base, off)? else {
                    return Ok(vec![]);
                };
                let precision = if args.is_empty() {
                    None
                } else {
                    self.single_prim(&arg(0)?, off)?.and_then(|p| as_int(&p))
                };
                Ok(boundary(&v, precision, func == Func::HighBoundary)
                    .into_iter()
                    .collect())
            }
            Func::Precision => {
                let Some(v) = self.single_prim(&base, off)? else {
                    return Ok(vec![]);
                };
                Ok(match v {
                    Value::Dec(d) => vec![Value::Int(d.scale() as i64)],
                    Value::Temporal(t) => vec![Value::Int(match (t.kind, t.precision) {
                        (TemporalKind::Time, p) => [0, 0, 0, 0, 2, 4, 6, 9][p as usize],
                        (_, p) => [0, 4, 6, 8, 10, 12, 14, 17][p as usize],
                    })],
                    _ => vec![],
                })
            }
            Func::Comparable => {
                let (Some(Value::Quantity(_, u1)), Some(Value::Quantity(_, u2))) = (
                    self.single_prim(&base, off)?,
                    self.single_prim(&arg(0)?, off)?,
                ) else {
                    return Ok(vec![]);
                };
                b(compare_quantities((&Decimal::ONE, &u1), (&Decimal::ONE, &u2)).is_some())
            }
            Func::Sort => {
                let mut keyed: Vec<(Vec<Option<Value<'a>>>, Value<'a>)> = Vec::new();
                for item in base {
                    let mut keys = Vec::new();
                    for a in args {
                        let (expr, _) = sort_key(a);
                        let frame = Frame {
                            this: Some(item.clone()),
                            index: None,
                            total: None,
                        };
                        let k = self.eval(expr, &vec![item.clone()], &frame)?;
                        keys.push(k.first().and_then(prim));
                    }
                    if args.is_empty() {
                        keys.push(prim(&item));
                    }
                    keyed.push((keys, item));
                }
                let desc: Vec<bool> = if args.is_empty() {
                    vec![false]
                } else {
                    args.iter().map(|a| sort_key(a).1).collect()
                };
                keyed.sort_by(|x, y| {
                    for (i, (a, b)) in x.0.iter().zip(&y.0).enumerate() {
                        let o = match (a, b) {
                            (Some(a), Some(b)) => {
                                compare(a, b).ok().flatten().unwrap_or(Ordering::Equal)
                            }
                            (None, Some(_)) => Ordering::Less,
                            (Some(_), None) => Ordering::Greater,
                            (None, None) => Ordering::Equal,
                        };
                        let o = if desc[i] { o.reverse() } else { o };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    Ordering::Equal
                });
                Ok(keyed.into_iter().map(|(_, v)| v).collect())
            }
        }
    }

    /// Every node below the items of `base`, depth first in document order (iterative).
    fn descendants(&self, base: &Coll<'a>) -> Coll<'a> {
        let mut out = Vec::new();
        let mut stack: Vec<Value<'a>> = base.iter().flat_map(|v| self.children(v)).collect();
        stack.reverse();
        while let Some(v) = stack.pop() {
            let mut kids = self.children(&v);
            kids.reverse();
            out.push(v);
            stack.extend(kids);
        }
        out
    }

    /// The child nodes of a node, in document order (primitive values and complex members).
    fn children(&self, v: &Value<'a>) -> Coll<'a> {
        let Value::Node(n) = v else { return vec![] };
        let holder = match (n.json, n.ext) {
            (Some(j), _) if matches!(j.kind, Kind::Object(_)) => j,
            (_, Some(e)) => e,
            _ => return vec![],
        };
        let Some(obj) = holder.as_object() else {
            return vec![];
        };
        let mut out = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for m in &obj.members {
            let key = m.key.as_str();
            if key == "resourceType" {
                continue;
            }
            let name = key.strip_prefix('_').unwrap_or(key);
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            // Find the element this member belongs to (choice members carry their type).
            let model = self.env.model;
            let ty = if n.ty.is_empty() {
                None
            } else if let Some(def) = model.element(n.ty, name) {
                def.types.first().map(|t| t.to_string())
            } else {
                model.type_def(n.ty).and_then(|_| {
                    (1..name.len())
                        .filter(|&i| name.is_char_boundary(i))
                        .find_map(|i| {
                            let base = &name[..i];
                            let def = model.element(n.ty, base)?;
                            def.choice.then(|| {
                                def.types
                                    .iter()
                                    .find(|t| Model::choice_suffix_matches(t, &name[i..]))
                                    .map(|t| t.to_string())
                            })?
                        })
                })
            };
            let ty: &'a str = match ty {
                Some(t) => intern(model, &t),
                None => "",
            };
            push_members(holder, name, ty, model, &mut out);
        }
        out
    }

    /// `resolve()`: a reference to a resource in the same Bundle or among the contained.
    fn resolve(&self, v: &Value<'a>) -> Option<Value<'a>> {
        let reference = match v {
            Value::Node(n) => n.json.and_then(|j| {
                j.get("reference")
                    .and_then(Json::as_str)
                    .or_else(|| j.as_str())
            })?,
            Value::Str(_) => return None,
            _ => return None,
        };
        let scope = crate::json::reference::Scope {
            container: self.env.resource,
            bundle: self
                .env
                .bundle
                .or(self.env.root_resource)
                .or(self.env.resource),
            entry_url: None,
            index: None,
        };
        crate::json::reference::resolve(reference, &scope).map(|r| root_node(r, self.env.model))
    }
}

/// The type names the model holds, with the model's lifetime (so nodes can borrow them).
fn intern<'a>(model: &'a Model, name: &str) -> &'a str {
    // Every type a node can have is a key of the model, or an element's type string.
    model.type_name_ref(name).unwrap_or("")
}

/// Push `holder[name]` (and its `_name` sibling) as nodes of type `ty`.
fn push_members<'a>(
    holder: &'a Json,
    name: &str,
    ty: &'a str,
    model: &'a Model,
    out: &mut Coll<'a>,
) {
    let value = holder.get(name);
    let ext = if model.is_primitive(ty) || ty.is_empty() {
        holder.get(&format_compact!("_{name}"))
    } else {
        None
    };
    let node = |json: Option<&'a Json>, ext: Option<&'a Json>| {
        let json = json.filter(|j| !matches!(j.kind, Kind::Null));
        let ext = ext.filter(|j| !matches!(j.kind, Kind::Null));
        if json.is_none() && ext.is_none() {
            return None;
        }
        let ty = if ty == "Resource" || ty == "DomainResource" {
            json.and_then(|j| j.get("resourceType"))
                .and_then(Json::as_str)
                .and_then(|t| model.type_name_ref(t))
                .unwrap_or(ty)
        } else {
            ty
        };
        Some(Value::Node(Node { json, ext, ty }))
    };
    match (value.map(|v| &v.kind), ext.map(|e| &e.kind)) {
        (Some(Kind::Array(items)), e) => {
            let exts = match e {
                Some(Kind::Array(x)) => Some(x),
                _ => None,
            };
            for (i, item) in items.iter().enumerate() {
                out.extend(node(Some(item), exts.and_then(|x| x.get(i))));
            }
        }
        (None, Some(Kind::Array(exts))) => {
            for e in exts {
                out.extend(node(None, Some(e)));
            }
        }
        _ => out.extend(node(value, ext)),
    }
}

fn type_arg(e: &Expr) -> Option<TypeSpec> {
    match &e.kind {
        ExprKind::Ident(n) => Some(TypeSpec {
            namespace: None,
            name: n.clone(),
        }),
        ExprKind::Member(inner, n) => match &inner.kind {
            ExprKind::Ident(ns) => Some(TypeSpec {
                namespace: Some(ns.clone()),
                name: n.clone(),
            }),
            _ => None,
        },
        _ => None,
    }
}

fn sort_key(e: &Expr) -> (&Expr, bool) {
    match &e.kind {
        ExprKind::Neg(inner) => (inner, true),
        _ => (e, false),
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match prim(v)? {
        Value::Int(i) => Some(i),
        _ => None,
    }
}

/// The System value of a node, if it is a FHIR primitive (or a Quantity); System values as is.
pub fn prim<'a>(v: &Value<'a>) -> Option<Value<'a>> {
    let Value::Node(n) = v else {
        return Some(v.clone());
    };
    let j = n.json?;
    Some(match n.ty {
        "boolean" => Value::Bool(j.as_bool()?),
        "integer" | "unsignedInt" | "positiveInt" | "integer64" => {
            Value::Int(j.as_number_text()?.parse().ok()?)
        }
        "decimal" => Value::Dec(parse_decimal(j.as_number_text()?)?),
        "date" => Value::Temporal(Temporal::parse_date(j.as_str()?)?),
        "dateTime" | "instant" => Value::Temporal(Temporal::parse_date_time(j.as_str()?)?),
        "time" => Value::Temporal(Temporal::parse_time(j.as_str()?)?),
        "Quantity" | "Age" | "Duration" | "Distance" | "Count" | "SimpleQuantity"
        | "MoneyQuantity" => {
            let value = parse_decimal(j.get("value")?.as_number_text()?)?;
            let unit = j
                .get("code")
                .and_then(Json::as_str)
                .or_else(|| j.get("unit").and_then(Json::as_str))
                .unwrap_or("1");
            Value::Quantity(value, normalise_unit(unit))
        }
        _ => match &j.kind {
            Kind::String(s) => Value::Str(s.clone()),
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Number(t) if n.ty.is_empty() => match t.parse::<i64>() {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Dec(parse_decimal(t)?),
            },
            _ => return None,
        },
    })
}

fn parse_decimal(t: &str) -> Option<Decimal> {
    t.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(t).ok())
}

/// Calendar keywords are stored singular (`days` → `day`); UCUM codes as written.
fn normalise_unit(u: &str) -> CompactString {
    calendar_unit(u)
        .map(CompactString::from)
        .unwrap_or_else(|| u.into())
}

/// `Ok(None)`: comparable types but no answer (precision). `Err`: types do not compare.
fn compare(a: &Value, b: &Value) -> Result<Option<Ordering>, ()> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Dec(y)) => Some(Decimal::from(*x).cmp(y)),
        (Value::Dec(x), Value::Int(y)) => Some(x.cmp(&Decimal::from(*y))),
        (Value::Dec(x), Value::Dec(y)) => Some(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Temporal(x), Value::Temporal(y)) => {
            let date_like = |t: &Temporal| t.kind != TemporalKind::Time;
            if date_like(x) != date_like(y) {
                return Err(());
            }
            x.compare(y)
        }
        (Value::Quantity(x, u), Value::Quantity(y, v)) => compare_quantities((x, u), (y, v)),
        _ => return Err(()),
    })
}

/// FHIRPath `=` on single items: `None` when the answer is unknown (temporal precision).
pub fn equal(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Node(x), Value::Node(y)) if !is_prim_node(x) || !is_prim_node(y) => {
            Some(x.json == y.json && (x.json.is_some() || x.ext == y.ext))
        }
        _ => {
            let (x, y) = (prim(a)?, prim(b)?);
            match (&x, &y) {
                (Value::Bool(p), Value::Bool(q)) => Some(p == q),
                (Value::Quantity(p, u), Value::Quantity(q, v)) => {
                    // Quantities of units that do not convert have no answer.
                    compare_quantities((p, u), (q, v)).map(|o| o == Ordering::Equal)
                }
                _ => match compare(&x, &y) {
                    Ok(o) => o.map(|o| o == Ordering::Equal),
                    Err(()) => Some(false),
                },
            }
        }
    }
}

fn is_prim_node(n: &Node) -> bool {
    n.json
        .is_some_and(|j| !matches!(j.kind, Kind::Object(_) | Kind::Array(_)))
}

fn coll_equal(a: &Coll, b: &Coll) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a.len() != b.len() {
        return Some(false);
    }
    let mut all = Some(true);
    for (x, y) in a.iter().zip(b) {
        match equal(x, y) {
            Some(false) => return Some(false),
            None => all = None,
            Some(true) => {}
        }
    }
    all
}

/// `~`: order-free, case- and whitespace-insensitive for strings, precision-tolerant.
fn equivalent(a: &Value, b: &Value) -> bool {
    match (prim(a), prim(b)) {
        (Some(Value::Str(x)), Some(Value::Str(y))) => {
            let norm = |s: &str| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            };
            norm(&x) == norm(&y)
        }
        (Some(Value::Dec(x)), Some(Value::Dec(y))) => {
            let p = x.scale().min(y.scale());
            x.round_dp(p) == y.round_dp(p)
        }
        (Some(Value::Dec(x)), Some(Value::Int(y))) | (Some(Value::Int(y)), Some(Value::Dec(x))) => {
            x.round_dp(0) == Decimal::from(y)
        }
        (Some(Value::Temporal(x)), Some(Value::Temporal(y))) => {
            x.compare(&y) == Some(Ordering::Equal)
        }
        (Some(Value::Quantity(x, u)), Some(Value::Quantity(y, v))) => {
            // Equal at the precision of the less precise, in the base unit.
            match (super::value::unit_factor(&u), super::value::unit_factor(&v)) {
                (Some((d1, f1)), Some((d2, f2))) if d1 == d2 => {
                    match (x.checked_mul(f1), y.checked_mul(f2)) {
                        (Some(a), Some(b)) => {
                            let (a, b) = (a.normalize(), b.normalize());
                            let p = a.scale().min(b.scale());
                            a.round_dp(p) == b.round_dp(p)
                        }
                        _ => false, // too large to convert: not equivalent
                    }
                }
                _ => u == v && x == y,
            }
        }
        (None, None) => equal(a, b) == Some(true),
        (Some(x @ Value::Node(_)), Some(y @ Value::Node(_))) => equal(&x, &y) == Some(true),
        (Some(x), Some(y)) => equal(&x, &y) == Some(true),
        _ => false,
    }
}

fn coll_equivalent(a: &Coll, b: &Coll) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(
        |x| match (0..b.len()).find(|&i| !used[i] && equivalent(x, &b[i])) {
            Some(i) => {
                used[i] = true;
                true
            }
            None => false,
        },
    )
}

fn arithmetic<'a>(op: BinOp, x: Value<'a>, y: Value<'a>, off: u32) -> R<'a> {
    use Value::*;
    // A date or time with a bare number (`@2024-01-01 + 7`) is wrong whatever the values:
    // a semantic error. Other mismatches (`'a' - 'b'`) are execution errors, as the
    // official suite classes them.
    let bad = |x: &Value, y: &Value| {
        let message = format!(
            "cannot apply {op:?} to {} and {}",
            x.type_name(),
            y.type_name()
        );
        if matches!(x, Temporal(_)) && matches!(y, Int(_) | Dec(_)) {
            semantic(off, message)
        } else {
            execution(off, message)
        }
    };
    let dec = |v: &Value| -> Option<Decimal> {
        match v {
            Int(i) => Some(Decimal::from(*i)),
            Dec(d) => Some(*d),
            _ => None,
        }
    };
    // A result out of range (decimal overflow, an integer past i64) is empty, as the
    // specification has it for arithmetic that cannot be represented; never a panic.
    macro_rules! or_empty {
        ($e:expr) => {
            match $e {
                Some(v) => v,
                None => return Ok(vec![]),
            }
        };
    }
    let out = match (op, &x, &y) {
        (BinOp::Add, Str(a), Str(b)) => Str(format_compact!("{a}{b}")),
        (BinOp::Add | BinOp::Sub | BinOp::Mul, Int(a), Int(b)) => {
            let r = match op {
                BinOp::Add => a.checked_add(*b),
                BinOp::Sub => a.checked_sub(*b),
                _ => a.checked_mul(*b),
            };
            match r {
                Some(r) => Int(r),
                None => return Ok(vec![]),
            }
        }
        (BinOp::Add | BinOp::Sub, Temporal(t), Quantity(q, u)) => {
            let q = if op == BinOp::Sub { -*q } else { *q };
            match t.add(q, u) {
                Some(Some(t)) => Temporal(t),
                Some(None) => return Ok(vec![]), // past year 9999 (or before year 1)
                None => {
                    return Err(execution(
                        off,
                        format!("cannot add '{u}' to a {}", x.type_name()),
                    ));
                }
            }
        }
        (BinOp::Add | BinOp::Sub, Quantity(a, u), Quantity(b, v)) if u == v => {
            let r = if op == BinOp::Add {
                a.checked_add(*b)
            } else {
                a.checked_sub(*b)
            };
            Quantity(or_empty!(r), u.clone())
        }
        (BinOp::Mul, Quantity(a, u), Quantity(b, v)) => {
            let unit = match (u.as_str(), v.as_str()) {
                ("1", o) | (o, "1") => o.into(),
                (p, q) => format_compact!("{p}.{q}"),
            };
            Quantity(or_empty!(a.checked_mul(*b)), unit)
        }
        (BinOp::Div, Quantity(a, u), Quantity(b, v)) => {
            if b.is_zero() {
                return Ok(vec![]);
            }
            let unit = if u == v {
                "1".into()
            } else {
                format_compact!("{u}/{v}")
            };
            Quantity(or_empty!(a.checked_div(*b)), unit)
        }
        (BinOp::Mul, Quantity(a, u), n) | (BinOp::Mul, n, Quantity(a, u)) if dec(n).is_some() => {
            Quantity(
                or_empty!(a.checked_mul(dec(n).unwrap_or_default())),
                u.clone(),
            )
        }
        (BinOp::Div, Quantity(a, u), n) if dec(n).is_some() => {
            let d = dec(n).unwrap_or_default();
            if d.is_zero() {
                return Ok(vec![]);
            }
            Quantity(or_empty!(a.checked_div(d)), u.clone())
        }
        _ => {
            let (Some(a), Some(b)) = (dec(&x), dec(&y)) else {
                return Err(bad(&x, &y));
            };
            match op {
                BinOp::Add => Dec(or_empty!(a.checked_add(b))),
                BinOp::Sub => Dec(or_empty!(a.checked_sub(b))),
                BinOp::Mul => Dec(or_empty!(a.checked_mul(b))),
                BinOp::Div => {
                    if b.is_zero() {
                        return Ok(vec![]);
                    }
                    Dec(or_empty!(a.checked_div(b)).normalize().max_scale(8))
                }
                BinOp::IntDiv | BinOp::Mod => {
                    if b.is_zero() {
                        return Ok(vec![]);
                    }
                    let r = if op == BinOp::IntDiv {
                        or_empty!(a.checked_div(b)).trunc()
                    } else {
                        or_empty!(a.checked_rem(b))
                    };
                    match (&x, &y, op) {
                        (Int(_), Int(_), _) | (_, _, BinOp::IntDiv) => Int(or_empty!(r.to_i64())),
                        _ => Dec(r),
                    }
                }
                _ => return Err(bad(&x, &y)),
            }
        }
    };
    Ok(vec![out])
}

trait MaxScale {
    fn max_scale(self, s: u32) -> Self;
}
impl MaxScale for Decimal {
    fn max_scale(self, s: u32) -> Decimal {
        if self.scale() > s {
            self.round_dp(s)
        } else {
            self
        }
    }
}

pub fn to_string(v: &Value) -> Option<CompactString> {
    Some(match v {
        Value::Bool(b) => b.to_compact_string(),
        Value::Int(i) => i.to_compact_string(),
        Value::Dec(d) => d.to_compact_string(),
        Value::Str(s) => s.clone(),
        Value::Temporal(t) => t.text().into(),
        Value::Quantity(q, u) => {
            if calendar_unit(u).is_some() {
                format_compact!("{q} {u}")
            } else {
                format_compact!("{q} '{u}'")
            }
        }
        Value::Type(ns, n) => format_compact!("{ns}.{n}"),
        Value::Node(_) => return None,
    })
}

fn convert<'a>(v: &Value<'a>, target: &str, unit: Option<&str>) -> Option<Value<'a>> {
    use Value::*;
    match target {
        "Boolean" => match v {
            Bool(b) => Some(Bool(*b)),
            Int(1) => Some(Bool(true)),
            Int(0) => Some(Bool(false)),
            Dec(d) if *d == Decimal::ONE => Some(Bool(true)),
            Dec(d) if d.is_zero() => Some(Bool(false)),
            Str(s) => match s.to_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(Bool(true)),
                "false" | "f" | "no" | "n" | "0" | "0.0" => Some(Bool(false)),
                _ => None,
            },
            _ => None,
        },
        "Integer" => match v {
            Int(i) => Some(Int(*i)),
            Bool(b) => Some(Int(*b as i64)),
            Str(s) => {
                let t = s.strip_prefix('+').unwrap_or(s);
                (t.trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    && !t.is_empty())
                .then(|| t.parse().ok().map(Int))?
            }
            _ => None,
        },
        "Decimal" => match v {
            Int(i) => Some(Dec(Decimal::from(*i))),
            Dec(d) => Some(Dec(*d)),
            Bool(b) => Some(Dec(if *b { Decimal::ONE } else { Decimal::ZERO })),
            Str(s) => {
                let ok = {
                    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
                    let (w, f) = t.split_once('.').unwrap_or((t, "0"));
                    !w.is_empty()
                        && !f.is_empty()
                        && w.bytes().chain(f.bytes()).all(|b| b.is_ascii_digit())
                };
                ok.then(|| s.parse().ok().map(Dec))?
            }
            _ => None,
        },
        "String" => to_string(v).map(Str),
        "Date" => match v {
            Temporal(t) if t.kind != TemporalKind::Time => {
                let mut d = *t;
                d.kind = TemporalKind::Date;
                d.precision = d.precision.min(3);
                d.tz = None;
                Some(Temporal(d))
            }
            Str(s) => super::value::Temporal::parse_date(s).map(Temporal),
            _ => None,
        },
        "DateTime" => match v {
            Temporal(t) if t.kind != TemporalKind::Time => {
                let mut d = *t;
                d.kind = TemporalKind::DateTime;
                Some(Temporal(d))
            }
            Str(s) => super::value::Temporal::parse_date_time(s)
                .or_else(|| {
                    s.strip_suffix('T')
                        .and_then(super::value::Temporal::parse_date)
                        .map(|mut t| {
                            t.kind = TemporalKind::DateTime;
                            t
                        })
                })
                .map(Temporal),
            _ => None,
        },
        "Time" => match v {
            Temporal(t) if t.kind == TemporalKind::Time => Some(Temporal(*t)),
            Str(s) => super::value::Temporal::parse_time(s).map(Temporal),
            _ => None,
        },
        "Quantity" => {
            let q = match v {
                Int(i) => Quantity(Decimal::from(*i), "1".into()),
                Dec(d) => Quantity(*d, "1".into()),
                Quantity(q, u) => Quantity(*q, u.clone()),
                Bool(b) => Quantity(if *b { Decimal::ONE } else { Decimal::ZERO }, "1".into()),
                Str(s) => parse_quantity(s)?,
                _ => return None,
            };
            match (unit, &q) {
                (None, _) => Some(q),
                (Some(u), Quantity(val, from)) => {
                    let (d1, f1) = super::value::unit_factor(from)?;
                    let (d2, f2) = super::value::unit_factor(u)?;
                    if d1 != d2 {
                        return None;
                    }
                    Some(Quantity(val.checked_mul(f1)?.checked_div(f2)?, u.into()))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn parse_quantity<'a>(s: &str) -> Option<Value<'a>> {
    let s = s.trim();
    let (num, rest) = match s.find(' ') {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    };
    let value: Decimal = {
        let t = num.strip_prefix(['+', '-']).unwrap_or(num);
        let (w, f) = t.split_once('.').unwrap_or((t, "0"));
        if w.is_empty() || f.is_empty() || !w.bytes().chain(f.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        num.parse().ok()?
    };
    let unit: CompactString = if rest.is_empty() {
        "1".into()
    } else if let Some(u) = rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        u.into()
    } else {
        calendar_unit(rest)?.into()
    };
    Some(Value::Quantity(value, unit))
}

fn string_fn<'a>(name: &str, s: &str, a: &[Option<Value<'a>>], off: u32) -> R<'a> {
    let str_arg = |i: usize| -> Result<Option<&str>, EvalError> {
        match a.get(i) {
            Some(Some(Value::Str(x))) => Ok(Some(x.as_str())),
            Some(None) => Ok(None),
            Some(Some(v)) => Err(semantic(
                off,
                format!("{name}() needs string arguments, not {}", v.type_name()),
            )),
            None => Err(semantic(off, format!("{name}() is missing an argument"))),
        }
    };
    let int_arg = |i: usize| -> Option<i64> { a.get(i).and_then(|v| v.as_ref()).and_then(as_int) };
    let chars: Vec<char> = s.chars().collect();
    let out = match name {
        "length" => Value::Int(chars.len() as i64),
        "upper" => Value::Str(s.to_uppercase().into()),
        "lower" => Value::Str(s.to_lowercase().into()),
        "trim" => Value::Str(s.trim().into()),
        "toChars" => {
            return Ok(chars
                .iter()
                .map(|c| Value::Str(c.to_compact_string()))
                .collect());
        }
        "indexOf" => {
            let Some(sub) = str_arg(0)? else {
                return Ok(vec![]);
            };
            Value::Int(s.find(sub).map_or(-1, |i| s[..i].chars().count() as i64))
        }
        "substring" => {
            let Some(start) = int_arg(0) else {
                return Ok(vec![]);
            };
            if start < 0 || start as usize >= chars.len() {
                return Ok(vec![]);
            }
            let len = if a.len() > 1 {
                int_arg(1).unwrap_or(0).max(0) as usize
            } else {
                chars.len()
            };
            Value::Str(
                chars[start as usize..]
                    .iter()
                    .take(len)
                    .collect::<String>()
                    .into(),
            )
        }
        "startsWith" => match str_arg(0)? {
            Some(p) => Value::Bool(s.starts_with(p)),
            None => return Ok(vec![]),
        },
        "endsWith" => match str_arg(0)? {
            Some(p) => Value::Bool(s.ends_with(p)),
            None => return Ok(vec![]),
        },
        "contains" => match str_arg(0)? {
            Some(p) => Value::Bool(s.contains(p)),
            None => return Ok(vec![]),
        },
        "replace" => {
            let (Some(p), Some(r)) = (str_arg(0)?, str_arg(1)?) else {
                return Ok(vec![]);
            };
            if p.is_empty() {
                let mut out = String::from(r);
                for c in s.chars() {
                    out.push(c);
                    out.push_str(r);
                }
                Value::Str(out.into())
            } else {
                Value::Str(s.replace(p, r).into())
            }
        }
        "matches" | "matchesFull" => {
            let Some(p) = str_arg(0)? else {
                return Ok(vec![]);
            };
            let p = if name == "matchesFull" {
                format!("^(?:{p})$")
            } else {
                p.to_string()
            };
            let re = regex_of(&p, off)?;
            Value::Bool(re.is_match(s))
        }
        "replaceMatches" => {
            let (Some(p), Some(r)) = (str_arg(0)?, str_arg(1)?) else {
                return Ok(vec![]);
            };
            if p.is_empty() {
                return Ok(vec![Value::Str(s.into())]);
            }
            let re = regex_of(p, off)?;
            Value::Str(re.replace_all(s, r).into_owned().into())
        }
        "split" => {
            let Some(sep) = str_arg(0)? else {
                return Ok(vec![]);
            };
            return Ok(s.split(sep).map(|p| Value::Str(p.into())).collect());
        }
        "encode" | "decode" => {
            use base64::Engine;
            let Some(fmt) = str_arg(0)? else {
                return Ok(vec![]);
            };
            let b64 = base64::engine::general_purpose::STANDARD;
            let url = base64::engine::general_purpose::URL_SAFE;
            let text: Option<String> = match (name, fmt) {
                ("encode", "base64") => Some(b64.encode(s)),
                ("encode", "urlbase64") => Some(url.encode(s)),
                ("encode", "hex") => Some(s.bytes().map(|b| format!("{b:02x}")).collect()),
                ("decode", "base64") => b64.decode(s).ok().and_then(|b| String::from_utf8(b).ok()),
                ("decode", "urlbase64") => {
                    url.decode(s).ok().and_then(|b| String::from_utf8(b).ok())
                }
                ("decode", "hex") => (0..s.len() / 2)
                    .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect::<Option<Vec<u8>>>()
                    .and_then(|b| String::from_utf8(b).ok()),
                _ => None,
            };
            match text {
                Some(t) => Value::Str(t.into()),
                None => return Ok(vec![]),
            }
        }
        "escape" | "unescape" => {
            let Some(fmt) = str_arg(0)? else {
                return Ok(vec![]);
            };
            let pairs: &[(&str, &str)] = match fmt {
                "html" => &[
                    ("&", "&amp;"),
                    ("<", "&lt;"),
                    (">", "&gt;"),
                    ("\"", "&quot;"),
                    ("'", "&#39;"),
                ],
                "json" => &[
                    ("\\", "\\\\"),
                    ("\"", "\\\""),
                    ("\n", "\\n"),
                    ("\r", "\\r"),
                    ("\t", "\\t"),
                ],
                _ => return Ok(vec![]),
            };
            let mut out = s.to_string();
            if name == "escape" {
                for (from, to) in pairs {
                    out = out.replace(from, to);
                }
            } else {
                for (from, to) in pairs.iter().rev() {
                    out = out.replace(to, from);
                }
            }
            Value::Str(out.into())
        }
        _ => return Err(semantic(off, format!("unknown function '{name}()'"))),
    };
    Ok(vec![out])
}

fn regex_of(p: &str, off: u32) -> Result<regex::Regex, EvalError> {
    // Single-line mode: `.` matches newlines too, as the spec asks.
    regex::RegexBuilder::new(p)
        .dot_matches_new_line(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| execution(off, format!("invalid regular expression: {e}")))
}

fn math_fn<'a>(name: &str, v: Value<'a>, a: &[Option<Value<'a>>], off: u32) -> R<'a> {
    let d = match &v {
        Value::Int(i) => Decimal::from(*i),
        Value::Dec(d) => *d,
        Value::Quantity(q, u) if name == "abs" => {
            return Ok(vec![Value::Quantity(q.abs(), u.clone())]);
        }
        other => {
            return Err(semantic(
                off,
                format!("{name}() needs a number, not {}", other.type_name()),
            ));
        }
    };
    let is_int = matches!(v, Value::Int(_));
    let arg = a.first().cloned().flatten();
    // An integer result past i64 is empty, never 0 or a wrapped value.
    let int = |x: Decimal| -> R<'a> { Ok(x.to_i64().map(Value::Int).into_iter().collect()) };
    let out = match name {
        "abs" => {
            if is_int {
                return int(d.abs());
            } else {
                Value::Dec(d.abs())
            }
        }
        "ceiling" => return int(d.ceil()),
        "floor" => return int(d.floor()),
        "truncate" => return int(d.trunc()),
        "round" => {
            let p = arg.as_ref().and_then(as_int).unwrap_or(0);
            if p < 0 {
                return Err(execution(off, "round() precision must be 0 or more"));
            }
            Value::Dec(d.round_dp_with_strategy(p as u32, RoundingStrategy::MidpointAwayFromZero))
        }
        "exp" => match d.checked_exp() {
            Some(r) => Value::Dec(r),
            None => return Ok(vec![]),
        },
        "ln" => {
            if d <= Decimal::ZERO {
                return Ok(vec![]);
            }
            match d.checked_ln() {
                Some(r) => Value::Dec(r),
                None => return Ok(vec![]),
            }
        }
        "log" => {
            let base = match arg {
                Some(Value::Int(i)) => Decimal::from(i),
                Some(Value::Dec(x)) => x,
                _ => return Ok(vec![]),
            };
            if d <= Decimal::ZERO || base <= Decimal::ZERO || base == Decimal::ONE {
                return Ok(vec![]);
            }
            match d
                .checked_ln()
                .zip(base.checked_ln())
                .and_then(|(a, b)| a.checked_div(b))
            {
                Some(r) => Value::Dec(r.round_dp(12).normalize()),
                None => return Ok(vec![]),
            }
        }
        "sqrt" => match d.sqrt() {
            Some(r) => Value::Dec(r),
            None => return Ok(vec![]),
        },
        "power" => {
            let e = match arg {
                Some(Value::Int(i)) => Decimal::from(i),
                Some(Value::Dec(x)) => x,
                _ => return Ok(vec![]),
            };
            let both_int = is_int && matches!(arg, Some(Value::Int(_)));
            if d.is_sign_negative() && !e.fract().is_zero() {
                return Ok(vec![]);
            }
            match d.checked_powd(e) {
                Some(r) if both_int => return int(r.round()),
                Some(r) => Value::Dec(r),
                None => return Ok(vec![]),
            }
        }
        _ => return Err(semantic(off, format!("unknown function '{name}()'"))),
    };
    Ok(vec![out])
}

/// `lowBoundary` / `highBoundary` of a decimal, date, dateTime or time.
fn boundary<'a>(v: &Value<'a>, precision: Option<i64>, high: bool) -> Option<Value<'a>> {
    match v {
        Value::Dec(d) | Value::Quantity(d, _) => {
            let p = precision.unwrap_or(8);
            if !(0..=28).contains(&p) {
                return None;
            }
            // The interval the written digits stand for: ± half a unit in the last place
            // (none past the 28 places a decimal holds); out of range gives empty.
            let edge = match Decimal::try_new(5, d.scale() + 1) {
                Ok(half) if high => d.checked_add(half)?,
                Ok(half) => d.checked_sub(half)?,
                Err(_) => *d,
            };
            let r = if p as u32 >= edge.scale() {
                let mut e = edge;
                e.rescale(p as u32);
                e
            } else {
                edge.round_dp_with_strategy(
                    p as u32,
                    if high {
                        RoundingStrategy::ToPositiveInfinity
                    } else {
                        RoundingStrategy::ToNegativeInfinity
                    },
                )
            };
            Some(match v {
                Value::Quantity(_, u) => Value::Quantity(r, u.clone()),
                _ => Value::Dec(r),
            })
        }
        Value::Int(i) => boundary(&Value::Dec(Decimal::from(*i)), precision, high),
        Value::Temporal(t) => {
            let mut t = *t;
            let target = match (t.kind, precision) {
                (TemporalKind::Time, None) => 7,
                (_, None) => {
                    if t.kind == TemporalKind::Date {
                        3
                    } else {
                        7
                    }
                }
                (TemporalKind::Time, Some(p)) => match p {
                    2 => 4,
                    4 => 5,
                    6 => 6,
                    9 => 7,
                    _ => return None,
                },
                (_, Some(p)) => match p {
                    4 => 1,
                    6 => 2,
                    8 => 3,
                    10 => 4,
                    12 => 5,
                    14 => 6,
                    17 => 7,
                    _ => return None,
                },
            };
            if t.kind == TemporalKind::Date && target > 3 {
                return None;
            }
            for level in t.precision + 1..=target {
                match level {
                    2 => t.month = if high { 12 } else { 1 },
                    3 => {
                        t.day = if high {
                            super::value::days_in_month(t.year, t.month)
                        } else {
                            1
                        }
                    }
                    4 => t.hour = if high { 23 } else { 0 },
                    5 => t.minute = if high { 59 } else { 0 },
                    6 => t.second = if high { 59 } else { 0 },
                    _ => t.millis = if high { 999 } else { 0 },
                }
            }
            if t.kind == TemporalKind::DateTime && target >= 4 && t.tz.is_none() {
                t.tz = Some(if high { -12 * 60 } else { 14 * 60 });
            }
            t.precision = target.max(t.precision.min(target));
            Some(Value::Temporal(t))
        }
        _ => None,
    }
}

/// `(system, code)` pairs of a code, Coding or CodeableConcept.
fn coded(v: &Value) -> Vec<(Option<String>, String)> {
    match v {
        Value::Str(s) => vec![(None, s.to_string())],
        Value::Node(n) => {
            let Some(j) = n.json else { return vec![] };
            if let Some(s) = j.as_str() {
                return vec![(None, s.to_string())];
            }
            let coding = |c: &Json| {
                c.get("code").and_then(Json::as_str).map(|code| {
                    (
                        c.get("system").and_then(Json::as_str).map(str::to_string),
                        code.to_string(),
                    )
                })
            };
            match j.get("coding").and_then(Json::as_array) {
                Some(cs) => cs.iter().filter_map(coding).collect(),
                None => coding(j).into_iter().collect(),
            }
        }
        _ => vec![],
    }
}
