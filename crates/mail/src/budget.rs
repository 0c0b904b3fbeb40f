//! Render budgets: one template must never take the server down or hold
//! it for long, whoever wrote it and whatever a contact's attributes hold.
//!
//! Liquid as liquid-rust runs it has no limits: `{% for i in (1..N) %}`
//! builds a vector of N values before the first iteration (a huge N panics
//! with "capacity overflow" or aborts the process when the allocation
//! fails), `replace` and `join` can multiply two large strings, and nested
//! loops or blocks run for as long as they like. So the parser used for mail
//! replaces the looping and capturing blocks with budgeted ones of ours,
//! wraps every filter in a size check, and every render of one mail runs
//! under a [`RenderLimits`]: bytes per value and part, loop iterations and
//! wall time, counted together for all the parts of that mail. A budget
//! that runs out ends the render with an error that names the limit.

use liquid::model::{KString, Object, Value, ValueView};
use liquid_core::parser::{BlockElement, FilterArguments, TryMatchToken};
use liquid_core::runtime::{Interrupt, InterruptRegister, StackFrame};
use liquid_core::{
    BlockReflection, Error, Expression, Filter, FilterReflection, Language, ParseBlock,
    ParseFilter, Renderable, Result, Runtime, TagBlock, TagTokenIter, Template,
};
use std::cell::RefCell;
use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

/// What one mail's render may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderLimits {
    /// Bytes of one rendered part (subject, HTML, text) and of any value a
    /// filter or `capture` makes.
    pub max_output_bytes: usize,
    /// Loop iterations over all the parts of one mail.
    pub max_iterations: u64,
    /// Wall time of one mail's render.
    pub max_time: Duration,
}

impl Default for RenderLimits {
    fn default() -> Self {
        Self {
            max_output_bytes: 2 * 1024 * 1024,
            max_iterations: 100_000,
            max_time: Duration::from_secs(1),
        }
    }
}

/// Which limit a render ran out of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    Output,
    /// The values `assign` and `capture` made, added up.
    Values,
    Iterations,
    Time,
}

impl Exceeded {
    /// What to tell the workspace, naming the limit and its setting.
    pub fn describe(self, limits: &RenderLimits) -> String {
        match self {
            Self::Output => format!(
                "the template makes more than {} bytes in one part or value (the render limit; the operator sets it with SENDWELL_RENDER_MAX_OUTPUT_BYTES)",
                limits.max_output_bytes
            ),
            Self::Values => format!(
                "the template's assign and capture make more than {} bytes of values for one mail (eight times the output limit; the operator sets it with SENDWELL_RENDER_MAX_OUTPUT_BYTES)",
                limits.max_output_bytes.saturating_mul(HELD_VALUES_PER_OUTPUT_LIMIT)
            ),
            Self::Iterations => format!(
                "the template runs more than {} loop iterations for one mail (the render limit; the operator sets it with SENDWELL_RENDER_MAX_ITERATIONS)",
                limits.max_iterations
            ),
            Self::Time => format!(
                "the template takes longer than {} ms to render one mail (the render limit; the operator sets it with SENDWELL_RENDER_MAX_TIME_MS)",
                limits.max_time.as_millis()
            ),
        }
    }
}

/// The words every budget error starts with, so callers can tell them apart.
pub const BUDGET_ERROR: &str = "render limit exceeded";

struct Active {
    limits: RenderLimits,
    iterations: u64,
    /// Bytes of the values `assign` and `capture` made so far.
    held: usize,
    deadline: Instant,
    exceeded: Option<Exceeded>,
}

thread_local! {
    static ACTIVE: RefCell<Option<Active>> = const { RefCell::new(None) };
}

/// Runs `render` under `limits`; which limit ran out, if one did. Renders
/// are synchronous, so the budget lives in a thread-local for the length of
/// the call. Outside such a call, the default limits apply to each check
/// with a fresh count (nothing in sendwell renders outside one).
pub fn within<T>(limits: RenderLimits, render: impl FnOnce() -> T) -> (T, Option<Exceeded>) {
    /// Puts the budget that was there back, even when `render` panics, so
    /// a caught panic leaves no budget behind on this thread.
    struct Restore(Option<Active>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            ACTIVE.with(|a| *a.borrow_mut() = previous);
        }
    }
    let _restore = Restore(ACTIVE.with(|a| {
        a.borrow_mut().replace(Active {
            limits,
            iterations: 0,
            held: 0,
            deadline: Instant::now() + limits.max_time,
            exceeded: None,
        })
    }));
    let out = render();
    let exceeded = ACTIVE.with(|a| a.borrow().as_ref().and_then(|a| a.exceeded));
    (out, exceeded)
}

fn limits() -> RenderLimits {
    ACTIVE.with(|a| a.borrow().as_ref().map(|a| a.limits).unwrap_or_default())
}

fn exceeded(what: Exceeded) -> Error {
    let limits = ACTIVE.with(|a| {
        let mut a = a.borrow_mut();
        match a.as_mut() {
            Some(a) => {
                a.exceeded.get_or_insert(what);
                a.limits
            }
            None => RenderLimits::default(),
        }
    });
    Error::with_msg(format!("{BUDGET_ERROR}: {}", what.describe(&limits)))
}

/// Checks the clock.
fn check_time() -> Result<()> {
    let late = ACTIVE.with(|a| {
        a.borrow()
            .as_ref()
            .is_some_and(|a| Instant::now() > a.deadline)
    });
    if late {
        return Err(exceeded(Exceeded::Time));
    }
    Ok(())
}

/// Takes `n` loop iterations from the budget, before they run.
fn charge(n: u64) -> Result<()> {
    let over = ACTIVE.with(|a| match a.borrow_mut().as_mut() {
        Some(a) => {
            a.iterations = a.iterations.saturating_add(n);
            a.iterations > a.limits.max_iterations
        }
        None => n > RenderLimits::default().max_iterations,
    });
    if over {
        return Err(exceeded(Exceeded::Iterations));
    }
    check_time()
}

/// Values that `assign` and `capture` make in one mail, in all, as a
/// multiple of the output limit: each value is held to the output limit,
/// and this keeps thousands of them (`{% assign a1 = s %}` ...) from adding
/// up to gigabytes before the clock runs out.
const HELD_VALUES_PER_OUTPUT_LIMIT: usize = 8;

/// Takes `bytes` of new values from the budget, after checking the clock.
fn hold(bytes: usize) -> Result<()> {
    check_time()?;
    let over = ACTIVE.with(|a| match a.borrow_mut().as_mut() {
        Some(a) => {
            a.held = a.held.saturating_add(bytes);
            a.held
                > a.limits
                    .max_output_bytes
                    .saturating_mul(HELD_VALUES_PER_OUTPUT_LIMIT)
        }
        None => bytes > RenderLimits::default().max_output_bytes,
    });
    if over {
        return Err(exceeded(Exceeded::Values));
    }
    Ok(())
}

/// A writer that refuses to hold more than the output limit.
pub struct BoundedWriter {
    pub bytes: Vec<u8>,
    max: usize,
}

impl BoundedWriter {
    pub fn new() -> Self {
        Self {
            bytes: Vec::new(),
            max: limits().max_output_bytes,
        }
    }
}

impl Default for BoundedWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for BoundedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.max {
            let _ = exceeded(Exceeded::Output);
            return Err(std::io::Error::other(BUDGET_ERROR));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Renders `template` into a string within the output limit.
pub(crate) fn render_bounded(template: &liquid::Template, globals: &Object) -> Result<String> {
    let mut out = BoundedWriter::new();
    template.render_to(&mut out, globals)?;
    String::from_utf8(out.bytes).map_err(|_| Error::with_msg("the template rendered invalid UTF-8"))
}

/// Roughly how many bytes a value holds: its text for scalars, and the sum
/// of its members (plus one each) for arrays and objects.
fn size_of(v: &dyn ValueView) -> usize {
    if let Some(s) = v.as_scalar() {
        return s.to_kstr().len();
    }
    if let Some(a) = v.as_array() {
        return a
            .values()
            .map(|x| size_of(x).saturating_add(1))
            .fold(0, usize::saturating_add);
    }
    if let Some(o) = v.as_object() {
        return o
            .iter()
            .map(|(k, x)| k.len().saturating_add(size_of(x)).saturating_add(1))
            .fold(0, usize::saturating_add);
    }
    0
}

/// A parser with Liquid's standard library, its loops, captures and
/// filters under the budget.
pub(crate) fn parser_builder() -> liquid::ParserBuilder {
    use liquid_lib::stdlib as s;
    let b = liquid::ParserBuilder::new()
        .tag(BudgetedAssign)
        .tag(s::BreakTag)
        .tag(s::ContinueTag)
        .tag(s::CycleTag)
        .tag(s::IncrementTag)
        .tag(s::DecrementTag)
        .block(s::RawBlock)
        .block(s::IfBlock)
        .block(s::UnlessBlock)
        .block(s::IfChangedBlock)
        .block(s::CommentBlock)
        .block(s::CaseBlock)
        .block(BudgetedFor)
        .block(Unsupported {
            tags: BlockTags("tablerow", "endtablerow"),
            why: "use {% for %} and write the table's rows yourself",
        })
        .block(BudgetedCapture);
    macro_rules! bounded {
        ($b:expr, $($g:ident: $f:ident),*; linear: [$($l:ident),*]) => {
            $b $(.filter(Bounded { inner: s::$f, growth: Growth::$g }))*
               $(.filter(Bounded { inner: s::$l, growth: Growth::Linear }))*
        };
    }
    bounded!(b, Replace: Replace, Join: Join;
        linear: [ReplaceFirst, Abs, Append, AtLeast, AtMost, Capitalize, Ceil, Compact, Concat, Date, Default,
            DividedBy, Downcase, Escape, EscapeOnce, First, Floor, Last, Lstrip, Map, Minus,
            Modulo, NewlineToBr, Plus, Prepend, Remove, RemoveFirst, Reverse, Round, Rstrip,
            Size, Slice, Sort, SortNatural, Split, Strip, StripHtml, StripNewlines, Times,
            Truncate, TruncateWords, Uniq, Upcase, UrlDecode, UrlEncode, Where])
}

/// How much a filter can make from its input and arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Growth {
    /// At most a few times its input and arguments: the result is measured.
    Linear,
    /// `replace: pattern, replacement`: every match of the pattern (every
    /// gap between characters when it is empty) can become the replacement.
    Replace,
    /// `join: separator`: the separator once between any two members.
    Join,
}

/// A standard filter whose result is held to the output limit; one that
/// can multiply its input (`replace`, `join`) is checked before it runs.
#[derive(Clone)]
struct Bounded<F> {
    inner: F,
    growth: Growth,
}

impl<F: ParseFilter + Clone + 'static> ParseFilter for Bounded<F> {
    fn parse(&self, arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let positional: Vec<Expression> = arguments.positional.collect();
        let keyword: Vec<(&str, Expression)> = arguments.keyword.collect();
        let args = positional.clone();
        let inner = self.inner.parse(FilterArguments {
            positional: Box::new(positional.into_iter()),
            keyword: Box::new(keyword.into_iter()),
        })?;
        Ok(Box::new(BoundedFilter {
            inner,
            args,
            growth: self.growth,
        }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self.inner.reflection()
    }
}

struct BoundedFilter {
    inner: Box<dyn Filter>,
    args: Vec<Expression>,
    growth: Growth,
}

impl fmt::Debug for BoundedFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Display for BoundedFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl BoundedFilter {
    fn arg_size(&self, i: usize, runtime: &dyn Runtime) -> usize {
        self.args
            .get(i)
            .and_then(|a| a.try_evaluate(runtime))
            .map_or(0, |v| size_of(v.as_view()))
    }

    /// The most this filter can make of `input`.
    fn bound(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> usize {
        if self.growth == Growth::Linear {
            return 0;
        }
        let n = size_of(input);
        match self.growth {
            Growth::Linear => 0,
            Growth::Replace => {
                let pattern = self.arg_size(0, runtime).max(1);
                let replacement = self.arg_size(1, runtime);
                n.saturating_add((n / pattern + 1).saturating_mul(replacement))
            }
            Growth::Join => {
                let members = input
                    .as_array()
                    .map_or(1, |a| usize::try_from(a.size()).unwrap_or(0));
                n.saturating_add(members.saturating_mul(self.arg_size(0, runtime)))
            }
        }
    }
}

impl Filter for BoundedFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        check_time()?;
        let max = limits().max_output_bytes;
        if self.bound(input, runtime) > max {
            return Err(exceeded(Exceeded::Output));
        }
        let out = self.inner.evaluate(input, runtime)?;
        if size_of(&out) > max {
            return Err(exceeded(Exceeded::Output));
        }
        Ok(out)
    }
}

/// `{% assign name = value | filters %}`, its value charged to the budget
/// of held values.
#[derive(Clone, Copy, Debug)]
struct BudgetedAssign;

impl liquid_core::TagReflection for BudgetedAssign {
    fn tag(&self) -> &'static str {
        "assign"
    }
    fn description(&self) -> &'static str {
        ""
    }
}

impl liquid_core::ParseTag for BudgetedAssign {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let name = identifier(&mut arguments, "Identifier expected.")?;
        expect_word(&mut arguments, "=", "Assignment operator \"=\" expected.")?;
        let value = arguments
            .expect_next("FilterChain expected.")?
            .expect_filter_chain(options)
            .into_result()?;
        arguments.expect_nothing()?;
        Ok(Box::new(Assign { name, value }))
    }

    fn reflection(&self) -> &dyn liquid_core::TagReflection {
        self
    }
}

#[derive(Debug)]
struct Assign {
    name: KString,
    value: liquid_core::parser::FilterChain,
}

impl Renderable for Assign {
    fn render_to(&self, _writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let value = self.value.evaluate(runtime)?.into_owned();
        hold(size_of(&value))?;
        runtime.set_global(self.name.clone(), value);
        Ok(())
    }
}

/// The start and end tag of one of our blocks, as liquid registers it.
#[derive(Clone, Copy, Debug)]
struct BlockTags(&'static str, &'static str);

impl BlockReflection for BlockTags {
    fn start_tag(&self) -> &str {
        self.0
    }
    fn end_tag(&self) -> &str {
        self.1
    }
    fn description(&self) -> &str {
        ""
    }
}

/// A block that Liquid has and mail templates do not.
#[derive(Clone, Copy, Debug)]
struct Unsupported {
    tags: BlockTags,
    /// What to write instead.
    why: &'static str,
}

impl ParseBlock for Unsupported {
    fn parse(
        &self,
        _arguments: TagTokenIter<'_>,
        _tokens: TagBlock<'_, '_>,
        _options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        Err(Error::with_msg(format!(
            "{{% {} %}} is not supported in mail templates: {}",
            self.tags.0, self.why
        )))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        &self.tags
    }
}

/// `{% capture name %}...{% endcapture %}`, into a bounded buffer.
#[derive(Clone, Copy, Debug)]
struct BudgetedCapture;

impl ParseBlock for BudgetedCapture {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let id = identifier(&mut arguments, "Identifier expected")?;
        arguments.expect_nothing()?;
        let template = Template::new(tokens.parse_all(options)?);
        tokens.assert_empty();
        Ok(Box::new(Capture { id, template }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        &BlockTags("capture", "endcapture")
    }
}

#[derive(Debug)]
struct Capture {
    id: KString,
    template: Template,
}

impl Renderable for Capture {
    fn render_to(&self, _writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let mut out = BoundedWriter::new();
        self.template.render_to(&mut out, runtime)?;
        hold(out.bytes.len())?;
        let text = String::from_utf8(out.bytes)
            .map_err(|_| Error::with_msg("the template rendered invalid UTF-8"))?;
        runtime.set_global(self.id.clone(), Value::scalar(text));
        Ok(())
    }
}

/// `{% for x in xs %}` and `{% for i in (a..b) %}` (with `limit:`,
/// `offset:`, `reversed`, `{% else %}`, `forloop`, `break`, `continue`),
/// charging the iterations to the budget *before* running them, and never
/// materialising a range.
#[derive(Clone, Copy, Debug)]
struct BudgetedFor;

#[derive(Debug)]
enum Source {
    Array(Expression),
    Counted(Expression, Expression),
}

#[derive(Debug)]
struct For {
    var: KString,
    source: Source,
    body: Template,
    otherwise: Option<Template>,
    limit: Option<Expression>,
    offset: Option<Expression>,
    reversed: bool,
}

impl ParseBlock for BudgetedFor {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let var = identifier(&mut arguments, "Identifier expected.")?;
        expect_word(&mut arguments, "in", "\"in\" expected.")?;
        let source = loop_source(&mut arguments)?;
        let (limit, offset, reversed) = loop_options(&mut arguments)?;
        arguments.expect_nothing()?;
        let (body, otherwise) = loop_body(&mut tokens, options)?;
        tokens.assert_empty();
        Ok(Box::new(For {
            var,
            source,
            body,
            otherwise,
            limit,
            offset,
            reversed,
        }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        &BlockTags("for", "endfor")
    }
}

/// The variable name a tag starts with.
fn identifier(arguments: &mut TagTokenIter<'_>, missing: &str) -> Result<KString> {
    let id = arguments
        .expect_next(missing)?
        .expect_identifier()
        .into_result()?;
    Ok(KString::from_ref(id))
}

/// The word (`in`, `=`, `:`) that must come next.
fn expect_word(arguments: &mut TagTokenIter<'_>, word: &str, missing: &str) -> Result<()> {
    arguments
        .expect_next(missing)?
        .expect_str(word)
        .into_result_custom_msg(missing)
}

/// What a `for` loops over: an array, or a range `(a..b)`.
fn loop_source(arguments: &mut TagTokenIter<'_>) -> Result<Source> {
    let token = arguments.expect_next("Array or range expected.")?;
    match token.expect_value() {
        TryMatchToken::Matches(array) => Ok(Source::Array(array)),
        TryMatchToken::Fails(token) => match token.expect_range() {
            TryMatchToken::Matches((start, stop)) => Ok(Source::Counted(start, stop)),
            TryMatchToken::Fails(token) => token.raise_error().into_err(),
        },
    }
}

/// `limit:`, `offset:` and `reversed` after the source.
fn loop_options(
    arguments: &mut TagTokenIter<'_>,
) -> Result<(Option<Expression>, Option<Expression>, bool)> {
    let mut limit = None;
    let mut offset = None;
    let mut reversed = false;
    while let Some(token) = arguments.next() {
        match token.as_str() {
            "limit" => limit = Some(attribute(arguments)?),
            "offset" => offset = Some(attribute(arguments)?),
            "reversed" => reversed = true,
            _ => {
                return token
                    .raise_custom_error("\"limit\", \"offset\" or \"reversed\" expected.")
                    .into_err()
            }
        }
    }
    Ok((limit, offset, reversed))
}

/// The loop's body, and what follows `{% else %}` if there is one.
fn loop_body(
    tokens: &mut TagBlock<'_, '_>,
    options: &Language,
) -> Result<(Template, Option<Template>)> {
    let mut body = Vec::new();
    let mut otherwise = None;
    while let Some(element) = tokens.next()? {
        match element {
            BlockElement::Tag(mut tag) if tag.name() == "else" => {
                tag.tokens().expect_nothing()?;
                otherwise = Some(Template::new(tokens.parse_all(options)?));
                break;
            }
            BlockElement::Tag(tag) => body.push(tag.parse(tokens, options)?),
            element => body.push(element.parse(tokens, options)?),
        }
    }
    Ok((Template::new(body), otherwise))
}

/// The value after `limit:` or `offset:`.
fn attribute(arguments: &mut TagTokenIter<'_>) -> Result<Expression> {
    expect_word(arguments, ":", "\":\" expected.")?;
    arguments
        .expect_next("Value expected.")?
        .expect_value()
        .into_result()
}

fn whole_number(e: &Expression, runtime: &dyn Runtime, what: &str) -> Result<i64> {
    let v = e.evaluate(runtime)?;
    v.as_scalar().and_then(|s| s.to_integer()).ok_or_else(|| {
        Error::with_msg(format!(
            "{what} must be a whole number, not `{}`",
            v.to_kstr()
        ))
    })
}

impl For {
    /// The window `[from, from + count)` of `len` items that `offset:` and
    /// `limit:` leave.
    fn window(&self, len: u64, runtime: &dyn Runtime) -> Result<(u64, u64)> {
        let offset = match &self.offset {
            Some(e) => u64::try_from(whole_number(e, runtime, "offset")?.max(0)).unwrap_or(0),
            None => 0,
        }
        .min(len);
        let rest = len - offset;
        let count = match &self.limit {
            Some(e) => u64::try_from(whole_number(e, runtime, "limit")?.max(0))
                .unwrap_or(0)
                .min(rest),
            None => rest,
        };
        Ok((offset, count))
    }

    fn iterate(
        &self,
        count: u64,
        item: &dyn Fn(u64) -> Value,
        writer: &mut dyn Write,
        runtime: &dyn Runtime,
    ) -> Result<()> {
        if count == 0 {
            if let Some(t) = &self.otherwise {
                t.render_to(writer, runtime)?;
            }
            return Ok(());
        }
        // The whole loop is charged before it starts, so a loop that could
        // never finish within the budget does not start.
        charge(count)?;
        let parent = runtime
            .try_get(&[liquid::model::Scalar::new("forloop")])
            .map(|p| p.to_value());
        let length = i64::try_from(count).unwrap_or(i64::MAX);
        for i in 0..count {
            check_time()?;
            let at = if self.reversed { count - 1 - i } else { i };
            let index = i64::try_from(i).unwrap_or(i64::MAX);
            let mut forloop = Object::new();
            forloop.insert("length".into(), Value::scalar(length));
            forloop.insert("index0".into(), Value::scalar(index));
            forloop.insert("index".into(), Value::scalar(index + 1));
            forloop.insert("rindex0".into(), Value::scalar(length - index - 1));
            forloop.insert("rindex".into(), Value::scalar(length - index));
            forloop.insert("first".into(), Value::scalar(i == 0));
            forloop.insert("last".into(), Value::scalar(i + 1 == count));
            if let Some(p) = &parent {
                forloop.insert("parentloop".into(), p.clone());
            }
            let mut frame = Object::new();
            frame.insert("forloop".into(), Value::Object(forloop));
            frame.insert(self.var.clone(), item(at));
            let scope = StackFrame::new(runtime, &frame);
            self.body.render_to(writer, &scope)?;
            let interrupt = scope.registers().get_mut::<InterruptRegister>().reset();
            if let Some(Interrupt::Break) = interrupt {
                break;
            }
        }
        Ok(())
    }
}

impl Renderable for For {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        check_time()?;
        match &self.source {
            Source::Counted(start, stop) => {
                let start = whole_number(start, runtime, "the start of a range")?;
                let stop = whole_number(stop, runtime, "the end of a range")?;
                let len = if stop < start {
                    0
                } else {
                    u64::try_from(i128::from(stop) - i128::from(start) + 1).unwrap_or(u64::MAX)
                };
                let (offset, count) = self.window(len, runtime)?;
                let first = i128::from(start) + i128::from(offset);
                let item = |k: u64| {
                    Value::scalar(i64::try_from(first + i128::from(k)).unwrap_or(i64::MAX))
                };
                self.iterate(count, &item, writer, runtime)
            }
            Source::Array(e) => {
                let value = e.evaluate(runtime)?;
                let items: Vec<Value> = if let Some(a) = value.as_array() {
                    a.values().map(|v| v.to_value()).collect()
                } else if let Some(o) = value.as_object() {
                    o.iter()
                        .map(|(k, v)| {
                            Value::Array(vec![Value::scalar(k.into_owned()), v.to_value()])
                        })
                        .collect()
                } else if value.is_nil() || value.is_state() {
                    Vec::new()
                } else {
                    return Err(Error::with_msg(format!(
                        "a for loop needs an array, a range or an object, not {}",
                        value.type_name()
                    )));
                };
                let len = u64::try_from(items.len()).unwrap_or(u64::MAX);
                let (offset, count) = self.window(len, runtime)?;
                let item = |k: u64| {
                    usize::try_from(offset + k)
                        .ok()
                        .and_then(|i| items.get(i))
                        .cloned()
                        .unwrap_or(Value::Nil)
                };
                self.iterate(count, &item, writer, runtime)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(
        src: &str,
        limits: RenderLimits,
    ) -> (std::result::Result<String, String>, Option<Exceeded>) {
        let parser = parser_builder().build().expect("parser");
        let template = parser.parse(src).expect("parses");
        let globals = liquid::object!({"name": "Ann", "items": ["a", "b", "c"], "nothing": []});
        let (out, exceeded) = within(limits, || render_bounded(&template, &globals));
        (out.map_err(|e| e.to_string()), exceeded)
    }

    fn ok(src: &str) -> String {
        let (out, exceeded) = render(src, RenderLimits::default());
        assert_eq!(exceeded, None, "{src}");
        out.unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn refused(src: &str, limits: RenderLimits, what: Exceeded) {
        let started = Instant::now();
        let (out, exceeded) = render(src, limits);
        let err = out.expect_err("refused");
        assert_eq!(exceeded, Some(what), "{src}: {err}");
        // A writer's refusal reaches liquid as an I/O error and loses its
        // words; render_mail names the limit from `exceeded`.
        assert!(
            err.contains(BUDGET_ERROR) || err.contains("Failed to render"),
            "{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{src} stopped early"
        );
    }

    #[test]
    fn loops_behave_as_liquid_says() {
        assert_eq!(ok("{% for i in (1..5) %}{{ i }}{% endfor %}"), "12345");
        assert_eq!(
            ok("{% for i in (1..3) reversed %}{{ i }}{% endfor %}"),
            "321"
        );
        assert_eq!(
            ok("{% for i in (1..10) limit:2 offset:3 %}{{ i }}{% endfor %}"),
            "45"
        );
        assert_eq!(ok("{% for x in items %}{{ forloop.index }}{{ x }}{% if forloop.last %}.{% endif %}{% endfor %}"), "1a2b3c.");
        assert_eq!(
            ok("{% for x in items %}{% if x == 'b' %}{% continue %}{% endif %}{{ x }}{% endfor %}"),
            "ac"
        );
        assert_eq!(
            ok("{% for x in items %}{% if x == 'b' %}{% break %}{% endif %}{{ x }}{% endfor %}"),
            "a"
        );
        assert_eq!(
            ok("{% for x in nothing %}{{ x }}{% else %}none{% endfor %}"),
            "none"
        );
        assert_eq!(
            ok("{% for i in (3..1) %}{{ i }}{% else %}empty{% endfor %}"),
            "empty"
        );
        assert_eq!(
            ok("{% for i in (1..2) %}{% for j in (1..2) %}{{ forloop.parentloop.index }}{{ j }} {% endfor %}{% endfor %}"),
            "11 12 21 22 "
        );
        assert_eq!(
            ok("{% capture c %}Hi {{ name }}{% endcapture %}{{ c }}!"),
            "Hi Ann!"
        );
        assert_eq!(
            ok("{{ name | replace: 'n', 'N' }} {{ items | join: '-' }}"),
            "ANN a-b-c"
        );
    }

    /// Regression: `(1..9223372036854775807)` made liquid build the whole
    /// range first and panic with "capacity overflow" inside the worker.
    #[test]
    fn regression_a_huge_range_is_refused_before_it_runs() {
        let l = RenderLimits::default();
        refused(
            "{% for i in (1..9223372036854775807) %}x{% endfor %}",
            l,
            Exceeded::Iterations,
        );
        refused(
            "{% for i in (-9223372036854775808..9223372036854775807) %}{% endfor %}",
            l,
            Exceeded::Iterations,
        );
        refused(
            "{% for i in (1..100000000) limit: 200000 %}{% endfor %}",
            l,
            Exceeded::Iterations,
        );
    }

    /// Regression: a 3000 x 3000 nested loop took 10 s and 1.6 GB a render.
    #[test]
    fn regression_nested_loops_share_one_iteration_budget() {
        let l = RenderLimits::default();
        refused(
            "{% for i in (1..3000) %}{% for j in (1..3000) %}{{ i }}{{ j }}{% endfor %}{% endfor %}",
            l,
            Exceeded::Iterations,
        );
        let small = RenderLimits {
            max_iterations: 10,
            ..l
        };
        assert_eq!(render("{% for i in (1..10) %}{% endfor %}", small).1, None);
        refused(
            "{% for i in (1..3) %}{% for j in (1..3) %}{% endfor %}{% endfor %}",
            small,
            Exceeded::Iterations,
        );
    }

    #[test]
    fn values_that_double_stop_at_the_output_limit() {
        let l = RenderLimits::default();
        refused(
            "{% assign s = 'xxxxxxxxxxxxxxxx' %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}",
            l,
            Exceeded::Output,
        );
        refused(
            "{% assign s = 'xxxxxxxxxxxxxxxx' %}{% for i in (1..64) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}",
            l,
            Exceeded::Output,
        );
        // One replace of a 64 KiB string by itself would make 4 GiB.
        refused(
            "{% assign s = 'xxxxxxxxxxxxxxxx' %}{% for i in (1..12) %}{% assign s = s | append: s %}{% endfor %}{{ s | replace: 'x', s }}",
            l,
            Exceeded::Output,
        );
        refused(
            "{% assign s = 'xxxxxxxxxxxxxxxx' %}{% for i in (1..12) %}{% assign s = s | append: s %}{% endfor %}{% assign a = s | split: '' %}{{ a | join: s }}",
            l,
            Exceeded::Output,
        );
        let tiny = RenderLimits {
            max_output_bytes: 10,
            ..l
        };
        refused(
            "{% for i in (1..20) %}x{% endfor %}",
            tiny,
            Exceeded::Output,
        );
    }

    /// Found reading the change again: thousands of `assign`s of one
    /// large value each copied it, gigabytes before the clock ran out.
    #[test]
    fn regression_many_copies_of_a_large_value_stop_at_the_held_limit() {
        let build = "{% assign s = 'xxxxxxxxxxxxxxxx' %}{% for i in (1..16) %}{% assign s = s | append: s %}{% endfor %}";
        let copies: String = (0..200)
            .map(|i| format!("{{% assign a{i} = s %}}"))
            .collect();
        refused(
            &format!("{build}{copies}"),
            RenderLimits::default(),
            Exceeded::Values,
        );
        let captures: String = (0..200)
            .map(|i| format!("{{% capture c{i} %}}{{{{ s }}}}{{% endcapture %}}"))
            .collect();
        refused(
            &format!("{build}{captures}"),
            RenderLimits::default(),
            Exceeded::Values,
        );
        // A few copies are fine.
        assert_eq!(
            render(
                &format!("{build}{{% assign b = s %}}{{{{ b | size }}}}"),
                RenderLimits::default()
            )
            .1,
            None
        );
    }

    #[test]
    fn a_render_that_runs_out_of_time_stops() {
        let none = RenderLimits {
            max_time: Duration::ZERO,
            ..RenderLimits::default()
        };
        refused(
            "{% for i in (1..10) %}{{ i }}{% endfor %}",
            none,
            Exceeded::Time,
        );
    }

    #[test]
    fn tablerow_and_partials_are_refused_when_parsed() {
        let parser = parser_builder().build().expect("parser");
        let Err(err) = parser.parse("{% tablerow i in (1..3) %}{{ i }}{% endtablerow %}") else {
            panic!("tablerow is refused");
        };
        assert!(err.to_string().contains("not supported"), "{err}");
        assert!(parser.parse("{% include 'x' %}").is_err());
    }
}
