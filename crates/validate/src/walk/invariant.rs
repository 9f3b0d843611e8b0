//! Invariants: each element's FHIRPath constraints, the fast JSON form where it has one.

use super::*;
use crate::fhirpath::Value;
use crate::fhirpath::eval::root_node;
use crate::issue::{Issue, Severity};
use crate::json::Json;
use crate::profile::Node;
use spfhir_element::msg::{self};
use std::sync::Arc;

impl<'a> Walk<'a> {
    /// Evaluate the element's invariants (ele-1 is checked structurally, not here).
    pub(super) fn node_constraints(
        &mut self,
        n: &Node,
        v: &'a Json,
        ext: Option<&'a Json>,
        at: &str,
        type_name: &str,
    ) {
        if n.constraints
            .iter()
            .all(|c| c.key == "ele-1" || c.expr.is_none())
        {
            return;
        }
        // The FHIRPath focus, made only if an invariant needs the general evaluator.
        let mut focus: Option<Value<'a>> = None;
        for c in &n.constraints {
            if self.out_of_time {
                return;
            }
            if c.key == "ele-1" {
                continue;
            }
            let Some(expr) = &c.expr else { continue };
            // The same invariant on the same value, met again through another profile
            // (profiles repeat their base's constraints), is evaluated once.
            if self.silent == 0
                && !self
                    .memo
                    .evaluated
                    .insert((v as *const Json as usize, Arc::as_ptr(expr) as usize))
            {
                continue;
            }
            let fast = match (&expr.fast, ext) {
                (Some(f), None)
                    if v.as_object().is_some() && !self.v.options.general_invariants_only =>
                {
                    f.eval(v)
                }
                _ => None,
            };
            let result = match fast {
                Some(Some(false)) => Ok(false),
                Some(_) => Ok(true),
                None => {
                    let focus = focus.get_or_insert_with(|| match root_node(v, &self.v.model) {
                        Value::Node(mut node) => {
                            node.ty = self.v.model.type_name_ref(type_name).unwrap_or("");
                            node.ext = ext;
                            Value::Node(node)
                        }
                        other => other,
                    });
                    expr.evaluate_on(vec![focus.clone()], &self.env)
                        .map(|r| matches!(r.as_slice(), [Value::Bool(true)] | []))
                }
            };
            match result {
                Ok(true) => {}
                // dom-6 ("a resource should have narrative") is for resources that stand
                // alone: a contained resource is shown through its container's narrative, and
                // the reference validator does not ask it of one.
                Ok(false) if c.key == "dom-6" && self.in_contained() => {}
                Ok(false) => {
                    let msg = format!("constraint {} failed: {}", c.key, c.human);
                    let issue = if c.severity == Severity::Warning {
                        Issue::warning(msg::INVARIANT, msg)
                    } else {
                        Issue::error(msg::INVARIANT, msg)
                    };
                    self.push(issue.at(at).at_node(v));
                }
                Err(e) if self.over_budget(&e, &format!("constraint {}", c.key), at, v) => {}
                Err(e) => {
                    let msg = format!("constraint {} could not be evaluated: {e}", c.key);
                    self.push(Issue::warning(msg::INVARIANT_ERROR, msg).at(at).at_node(v));
                }
            }
        }
    }
}
