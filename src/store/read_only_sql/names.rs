//! The names a statement uses, read from its syntax tree (sqlparser's Postgres dialect): every
//! relation must be a KPI table (or a CTE in scope), every function, cast type and operator
//! must come from the allow-lists in `allowed.rs`. Text the parser cannot read is refused
//! rather than guessed at.
//!
//! Scoping follows Postgres: a CTE name hides a table of the same name in its WITH's query and
//! in every query nested in it; inside a CTE's own body, only the CTEs before it (and, with
//! RECURSIVE, all of them) are visible — `WITH pg_roles AS (SELECT * FROM pg_roles)` reads the
//! catalog in its body, and is refused.

use std::ops::ControlFlow;

use sqlparser::ast::{
    ArrayElemTypeDef, BinaryOperator, DataType, Expr, Function, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Query, SetExpr, Statement, TableFactor, Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::allowed::{
    ALLOWED_FUNCTIONS, ALLOWED_TYPE_NAMES, CLOCK_WORDS, CONSTRUCTORS, KPI_TABLES, OPERATOR_REFUSAL,
    SESSION_WORDS, TIMEOUT_BOUND_FUNCTIONS, function_refusal, relation_refusal,
};
use super::check::Timeouts;

/// Checks the names `statement` (one SELECT, already through the lexical checks) uses. `words`
/// are the identifiers and keywords the lexical checks saw (folded unless quoted): the parser
/// must see the same ones, so that no name hides in what one of them took for a literal or a
/// comment.
pub fn check(statement: &str, words: &[&str], timeouts: Timeouts) -> Result<(), String> {
    same_words(statement, words)?;
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, statement).map_err(|err| {
        format!(
            "sql_query could not read the query ({}); write one plain SELECT over the KPI tables",
            err.to_string().trim_start_matches("sql parser error: ")
        )
    })?;
    let [Statement::Query(query)] = statements.as_slice() else {
        return Err("send one SELECT statement".into());
    };
    let mut names = Names {
        timeouts,
        frames: Vec::new(),
        table_checked: false,
    };
    match query.visit(&mut names) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(refusal) => Err(refusal),
    }
}

fn same_words(statement: &str, words: &[&str]) -> Result<(), String> {
    let unreadable = || {
        "sql_query could not read the query the same way twice (an unusual literal, comment or \
         identifier); write plain SQL: 'text' literals, \"quoted\" or plain names"
            .to_owned()
    };
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, statement)
        .tokenize()
        .map_err(|_| unreadable())?;
    let parsed = tokens.iter().filter_map(|token| match token {
        Token::Word(word) if word.quote_style.is_some() => Some(word.value.clone()),
        Token::Word(word) => Some(word.value.to_lowercase()),
        _ => None,
    });
    if parsed.eq(words.iter().map(|word| (*word).to_owned())) {
        Ok(())
    } else {
        Err(unreadable())
    }
}

/// One query being walked, and the CTEs its WITH defines.
struct Frame {
    query: *const Query,
    with: Option<WithScope>,
}

struct WithScope {
    recursive: bool,
    names: Vec<String>,
    /// Each CTE's body, in order (to tell which siblings a body sees).
    bodies: Vec<*const Query>,
}

struct Names {
    timeouts: Timeouts,
    /// The queries from the outermost to the one being walked.
    frames: Vec<Frame>,
    /// A table reference was checked by `pre_visit_table_factor`: its name comes next.
    table_checked: bool,
}

/// An identifier as Postgres reads it: unquoted ones are folded to lower case.
fn folded(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// The parts of a name, folded; `None` when a part is not a plain identifier.
fn parts(name: &ObjectName) -> Option<Vec<String>> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => Some(folded(ident)),
            ObjectNamePart::Function(_) => None,
        })
        .collect()
}

fn refuse<T>(message: String) -> ControlFlow<String, T> {
    ControlFlow::Break(message)
}

impl Names {
    /// Whether `name` is a CTE visible where the walk is.
    fn is_cte(&self, name: &str) -> bool {
        self.frames.iter().enumerate().rev().any(|(k, frame)| {
            let Some(with) = &frame.with else {
                return false;
            };
            // Inside one of this WITH's bodies, or in the query's own body?
            let body = self
                .frames
                .get(k + 1)
                .and_then(|inner| with.bodies.iter().position(|b| *b == inner.query));
            let visible = match body {
                Some(index) if !with.recursive => &with.names[..index],
                _ => &with.names[..],
            };
            visible.iter().any(|cte| cte == name)
        })
    }

    fn relation(&self, name: &ObjectName) -> ControlFlow<String> {
        let shown = name.to_string();
        match parts(name).as_deref() {
            Some([table]) if self.is_cte(table) || KPI_TABLES.contains(&table.as_str()) => {
                ControlFlow::Continue(())
            }
            Some([schema, table]) if schema == "public" && KPI_TABLES.contains(&table.as_str()) => {
                ControlFlow::Continue(())
            }
            _ => refuse(relation_refusal(&shown)),
        }
    }

    fn function(&self, name: &ObjectName, parenthesised: bool) -> ControlFlow<String> {
        let shown = name.to_string();
        let parts = parts(name);
        let Some([function]) = parts.as_deref() else {
            return refuse(format!(
                "{shown}() is not allowed in sql_query: call functions by their plain name \
                 (count, not pg_catalog.count)"
            ));
        };
        let function = function.as_str();
        if !parenthesised {
            return if CLOCK_WORDS.contains(&function) {
                ControlFlow::Continue(())
            } else if SESSION_WORDS.contains(&function) {
                refuse(session_refusal(function))
            } else {
                refuse(function_refusal(function))
            };
        }
        if ALLOWED_FUNCTIONS.contains(&function)
            || CONSTRUCTORS.contains(&function)
            || (TIMEOUT_BOUND_FUNCTIONS.contains(&function) && self.timeouts == Timeouts::Enforced)
        {
            ControlFlow::Continue(())
        } else {
            refuse(function_refusal(function))
        }
    }
}

fn session_refusal(word: &str) -> String {
    format!("{word} is not available in sql_query: it reads the session, not the KPI tables")
}

/// Casts and typed literals: standard scalar types, arrays of them, and a few named ones.
fn data_type(data_type: &DataType) -> ControlFlow<String> {
    use DataType as T;
    match data_type {
        T::Character(_)
        | T::Char(_)
        | T::CharacterVarying(_)
        | T::CharVarying(_)
        | T::Varchar(_)
        | T::Text
        | T::Uuid
        | T::Numeric(_)
        | T::Decimal(_)
        | T::Dec(_)
        | T::Float(_)
        | T::SmallInt(_)
        | T::Int(_)
        | T::Integer(_)
        | T::BigInt(_)
        | T::Int2(_)
        | T::Int4(_)
        | T::Int8(_)
        | T::Float4
        | T::Float8
        | T::Real
        | T::Double(_)
        | T::DoublePrecision
        | T::Bool
        | T::Boolean
        | T::Date
        | T::Time(..)
        | T::Timestamp(..)
        | T::Interval { .. }
        | T::JSON
        | T::JSONB => ControlFlow::Continue(()),
        T::Array(ArrayElemTypeDef::SquareBracket(inner, _) | ArrayElemTypeDef::AngleBracket(inner)) => {
            self::data_type(inner)
        }
        T::Custom(name, _) if matches!(parts(name).as_deref(), Some([one]) if ALLOWED_TYPE_NAMES.contains(&one.as_str())) => {
            ControlFlow::Continue(())
        }
        other => refuse(format!(
            "the type {other} is not allowed in sql_query (the reg* types and row types read the \
             catalogs); cast to numeric, integer, bigint, double precision, text, varchar, \
             boolean, date, timestamp, timestamptz, interval, json, jsonb or uuid"
        )),
    }
}

/// What a query's body may be: SELECT, VALUES, parenthesised queries and set operations.
fn set_expr(body: &SetExpr) -> ControlFlow<String> {
    match body {
        SetExpr::Select(select) if select.into.is_some() => {
            refuse("sql_query is read-only: SELECT … INTO is refused".into())
        }
        SetExpr::Select(_) | SetExpr::Values(_) | SetExpr::Query(_) => ControlFlow::Continue(()),
        SetExpr::SetOperation { left, right, .. } => {
            set_expr(left)?;
            set_expr(right)
        }
        SetExpr::Table(_) => refuse("write SELECT * FROM a KPI table instead of TABLE".into()),
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
            refuse("sql_query is read-only: only SELECT (or WITH … SELECT) runs".into())
        }
    }
}

impl Visitor for Names {
    type Break = String;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        if !query.locks.is_empty() {
            return refuse("sql_query is read-only: FOR UPDATE/SHARE is refused".into());
        }
        set_expr(&query.body)?;
        let with = query.with.as_ref().map(|with| WithScope {
            recursive: with.recursive,
            names: with
                .cte_tables
                .iter()
                .map(|cte| folded(&cte.alias.name))
                .collect(),
            bodies: with
                .cte_tables
                .iter()
                .map(|cte| std::ptr::from_ref::<Query>(&cte.query))
                .collect(),
        });
        self.frames.push(Frame {
            query: std::ptr::from_ref(query),
            with,
        });
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<String> {
        self.frames.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<String> {
        match factor {
            TableFactor::Table {
                name, args, alias, ..
            } => {
                match args {
                    None => self.relation(name)?,
                    Some(_) => self.function(name, true)?,
                }
                for column in alias.iter().flat_map(|alias| &alias.columns) {
                    if let Some(declared) = &column.data_type {
                        data_type(declared)?;
                    }
                }
                self.table_checked = true;
                ControlFlow::Continue(())
            }
            TableFactor::Function { name, .. } => self.function(name, true),
            TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } | TableFactor::UNNEST { .. } => {
                ControlFlow::Continue(())
            }
            _ => refuse(
                "this FROM item is not supported in sql_query; read from the KPI tables, a \
                 subquery or a set-returning function such as generate_series"
                    .into(),
            ),
        }
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<String> {
        if std::mem::take(&mut self.table_checked) {
            ControlFlow::Continue(())
        } else {
            refuse(relation_refusal(&relation.to_string()))
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
        match expr {
            Expr::Function(Function { name, args, .. }) => {
                self.function(name, !matches!(args, FunctionArguments::None))
            }
            Expr::Cast {
                data_type: target, ..
            } => data_type(target),
            Expr::TypedString(typed) => data_type(&typed.data_type),
            Expr::BinaryOp {
                op: BinaryOperator::PGCustomBinaryOperator(_),
                ..
            } => refuse(OPERATOR_REFUSAL.into()),
            Expr::Identifier(ident)
                if ident.quote_style.is_none() && SESSION_WORDS.contains(&folded(ident).as_str()) =>
            {
                refuse(session_refusal(&folded(ident)))
            }
            Expr::Collate { collation, .. } if collation.0.len() > 1 => {
                refuse("name a collation without its schema (COLLATE \"C\")".into())
            }
            Expr::Convert { .. } | Expr::MatchAgainst { .. } => {
                refuse("this expression is not supported in sql_query".into())
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

#[cfg(test)]
mod tests;
