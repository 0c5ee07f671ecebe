//! What each field becomes on the wire, decided once for every generator: its names,
//! the condition under which it is present, and its kind.

use crate::asn1;
use crate::ast::{is_unused, Container, Data, Field, Shape};
use crate::attr::{AttrSpan, Hook};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Type};

/// What the generators know of the type as a whole, decided once from its
/// attributes: generators read this and the field plans, never the attributes.
pub struct ContainerPlan<'a> {
    pub ident: &'a Ident,
    /// The VMState name (empty only when `check` reported it missing).
    pub name: String,
    pub version: u32,
    pub minimum_version: u32,
    pub pre_save: Option<&'a Hook>,
    /// `pre_save`'s explicit form: runs on a copy that is saved.
    pub prepare: Option<&'a Hook>,
    pub post_save: Option<&'a Hook>,
    pub pre_load: Option<&'a Hook>,
    pub post_load: Option<&'a Hook>,
    pub dev_unplug_pending: Option<&'a Hook>,
    pub unplugged_ram: Option<&'a Hook>,
    /// Saved by QEMU's old-style handlers: described as one buffer.
    pub old_style: bool,
    /// `[APPLICATION n]` and where it was written (for its marker's errors).
    pub ber_tag: Option<(u32, proc_macro2::Span)>,
    pub ber_blob_until: Option<u32>,
    /// `desc::Priority`'s variant.
    pub priority: Ident,
    pub early_setup: bool,
    pub unmigratable: bool,
    /// A transparent newtype's `VMStateInfo` name.
    pub info: Option<&'a str>,
    /// The runtime's path (`crate = "..."`, else `::vmstate_runtime`), and the
    /// attribute to hand on to derives the expansion itself contains.
    pub runtime: TokenStream,
    pub krate: Option<TokenStream>,
}

/// The container's plan.
pub fn container<'a>(c: &'a Container<'a>) -> ContainerPlan<'a> {
    let a = &c.attrs;
    let priority = a
        .priority
        .as_ref()
        .and_then(|p| crate::attr::priority_variant(&p.value))
        .unwrap_or("Default");
    let krate = a.krate.as_ref().map(|k| {
        let path = &k.value;
        let path = quote!(#path).to_string();
        quote!(crate = #path,)
    });
    ContainerPlan {
        ident: c.ident,
        // An enum with data is named after itself unless `name` says otherwise.
        name: match (&c.data, &a.name) {
            (Data::Variants(_), None) => c.ident.to_string(),
            _ => c.name().to_owned(),
        },
        version: c.version(),
        minimum_version: c.minimum_version(),
        pre_save: a.pre_save.as_ref(),
        prepare: a.prepare.as_ref(),
        post_save: a.post_save.as_ref(),
        pre_load: a.pre_load.as_ref(),
        post_load: a.post_load.as_ref(),
        dev_unplug_pending: a.dev_unplug_pending.as_ref(),
        unplugged_ram: a.unplugged_ram.as_ref(),
        old_style: a.old_style.is_some(),
        ber_tag: a.ber_tag.as_ref().map(|t| (t.value, t.span)),
        ber_blob_until: a.ber_blob_until.as_ref().map(|t| t.value),
        priority: quote::format_ident!("{}", priority),
        early_setup: a.early_setup.is_some(),
        unmigratable: a.unmigratable.is_some(),
        info: a.info.as_ref().map(|i| i.value.as_str()),
        runtime: match &a.krate {
            Some(path) => quote::ToTokens::to_token_stream(&path.value),
            None => quote!(::vmstate_runtime),
        },
        krate,
    }
}

/// A comparison of a loaded value with the destination's current one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LoadCheck {
    /// `equal`: the same value (QEMU's `_EQUAL`, vmdesc type `... equal`).
    Equal,
    /// `le`: between zero and the current value (QEMU's `_POSITIVE_LE`, `... le`).
    Le,
}

impl LoadCheck {
    /// What QEMU appends to the type name in vmdesc.
    pub fn vmdesc_suffix(check: Option<LoadCheck>) -> &'static str {
        match check {
            None => "",
            Some(LoadCheck::Equal) => " equal",
            Some(LoadCheck::Le) => " le",
        }
    }

    /// The test of a loaded `__v` against `self.#id`, returning the error; a type
    /// that cannot be compared is reported at `span` (the field's type).
    pub fn test(self, id: &Ident, rust_name: &str, span: proc_macro2::Span) -> TokenStream {
        match self {
            LoadCheck::Equal => quote! {
                if __v != self.#id {
                    return __vm::Err(__vm::not_equal(&self.#id, &__v, __at).in_field(#rust_name));
                }
            },
            LoadCheck::Le => quote_spanned! {span=>
                if !__vm::positive_le(&__v, &self.#id) {
                    return __vm::Err(__vm::above_current(&self.#id, &__v, __at).in_field(#rust_name));
                }
            },
        }
    }
}

/// Which elements of a `VarArray` are on the wire.
pub enum Len<'a> {
    /// The first `field * multiply` (QEMU's VARRAY, VBUFFER and their MULTIPLY).
    Field {
        field: &'a Ident,
        multiply: Option<TokenStream>,
        /// `bitmap`: the field counts bits, sent in 64-bit words; the bound in
        /// bits, which a count over it is reported against.
        bits: Option<TokenStream>,
    },
    /// The fixed range `start..end` (QEMU's SUB_ARRAY, BUFFER_START_MIDDLE,
    /// PARTIAL_BUFFER, STATIC_BUFFER).
    Range {
        start: TokenStream,
        end: TokenStream,
        /// The array's length.
        array_len: TokenStream,
    },
}

pub enum Kind<'a> {
    /// One value of a `Field` type.
    Plain,
    /// `[u8; N]` described as `uint8` elements.
    ByteArray { len: &'a syn::Expr },
    /// Part of an array or `Vec`: the elements `len` says.
    VarArray {
        elem: &'a Type,
        len: Len<'a>,
        /// The bound as an expression (the attribute's `max`, else the array's length).
        max: TokenStream,
        is_vec: bool,
    },
    /// A subsection, sent when `needed`.
    Subsection {
        /// `None` for an `Option` field without `needed`: sent when `Some`.
        needed: Option<&'a Hook>,
        /// The subsection's VMState type (inside the `Option`, if any).
        ty: &'a Type,
        optional: bool,
        nonstandard_name: bool,
        /// `new`: makes an absent optional subsection from its parent when the
        /// stream brings it (the destination's configuration, as a count).
        new: Option<&'a Hook>,
    },
}

/// Everything a generator needs to know about a field; generators read nothing else.
pub struct FieldPlan<'a> {
    pub ident: &'a Ident,
    /// The field's Rust type (with its span, where unsupported types are reported).
    pub ty: &'a Type,
    /// Rust name, for error paths.
    pub rust_name: String,
    /// Name in descriptions (`rename`, or `unused` for padding, or the Rust name).
    pub desc_name: String,
    /// Name in the vmdesc trailer: QEMU appends `[k]` to names used more than once.
    pub vmdesc_name: String,
    /// Version test, in terms of a `version: u32` in scope.
    pub version_cond: TokenStream,
    /// Inclusive version bounds of the field (`None`: unbounded on that side).
    pub versions: (Option<u32>, Option<u32>),
    /// `exists` predicate call (`&Self`, version), or `true`.
    pub exists_cond: TokenStream,
    /// Whether the field has an `exists` predicate (QEMU's `field_exists`).
    pub has_exists: bool,
    /// `equal` or `le`: how a loaded value must compare with the current one.
    pub check: Option<LoadCheck>,
    /// `tmp`: described as QEMU describes a `VMSTATE_WITH_TMP` struct.
    pub tmp: bool,
    /// `struct_version`: the nested structs go at the version this table gives for
    /// the parent's (one step of parent version 0 for `struct_version = N`).
    pub struct_version: Option<Vec<(u32, u32)>>,
    /// With `struct_version`: the nested struct type, and the runtime's helper for
    /// the field's shape (`nested::Struct`, `Array`, `List`; `Elements` for a
    /// variable array).
    nested: Option<(&'a Type, TokenStream)>,
    /// `max` without `len`: the runtime's `Bounded` helper for a container that
    /// sends its own count.
    bounded: Option<TokenStream>,
    /// `validate`: checked after the field is loaded.
    pub validate: Option<&'a Hook>,
    /// `pre_load`: run on the parent before the field is loaded.
    pub pre_load: Option<&'a Hook>,
    pub kind: Kind<'a>,
    /// BER context tag: its position among the struct's fields on the wire (or
    /// among its subsections), from 0.
    pub tag: u32,
    /// Identifier in the ASN.1 schema and JSON values.
    pub asn1_name: String,
}

impl FieldPlan<'_> {
    pub fn is_subsection(&self) -> bool {
        matches!(self.kind, Kind::Subsection { .. })
    }

    /// Presence of a non-subsection field at `version`, for `self: &Self`.
    pub fn present(&self) -> TokenStream {
        match (&self.versions, self.has_exists) {
            ((None, None), false) => quote!(true),
            ((None, None), true) => self.exists_cond.clone(),
            (_, false) => self.version_cond.clone(),
            _ => {
                let (v, e) = (&self.version_cond, &self.exists_cond);
                quote!((#v && #e))
            }
        }
    }

    /// `body`, run only when the field is present ([`present`](Self::present)):
    /// as is for a field that always is.
    pub fn when_present(&self, body: TokenStream) -> TokenStream {
        if self.always_present() {
            return body;
        }
        let cond = self.present();
        quote!(if #cond { #body })
    }

    /// `cond && rest`, or `rest` alone when the field is on the wire at every
    /// version (no `true &&` in generated code).
    pub fn and_version(&self, rest: TokenStream) -> TokenStream {
        if self.versions == (None, None) {
            return rest;
        }
        let v = &self.version_cond;
        quote!(#v && #rest)
    }

    /// Whether the field has neither version bounds nor `exists`, as most have.
    pub fn always_present(&self) -> bool {
        self.versions == (None, None) && !self.has_exists
    }

    /// A variable array's element count from its `len` field, checked against
    /// `max` and `available` (errors at `offset`); or, `lenient`, the count a size
    /// or description uses. Spanned at the attribute, so a `len` field that is not
    /// an integer is reported there, once.
    pub fn var_count(
        &self,
        checked: Option<(TokenStream, TokenStream, TokenStream)>,
    ) -> TokenStream {
        let Kind::VarArray { len, .. } = &self.kind else {
            unreachable!("var_count on a fixed field")
        };
        let id = self.ident;
        let (source, span) = match len {
            Len::Field {
                field,
                bits: Some(max_bits),
                ..
            } => (
                quote_spanned!(field.span()=> &__vm::BitsToWords(&self.#field, #max_bits)),
                field.span(),
            ),
            Len::Field {
                field,
                multiply: None,
                ..
            } => (quote_spanned!(field.span()=> &self.#field), field.span()),
            Len::Field {
                field,
                multiply: Some(m),
                ..
            } => (
                quote_spanned!(field.span()=> &__vm::Scaled(&self.#field, #m)),
                field.span(),
            ),
            Len::Range { start, end, .. } => (
                quote!(&__vm::Fixed(#end - #start)),
                proc_macro2::Span::call_site(),
            ),
        };
        let start = self.slice_start();
        match checked {
            Some((max, available, offset)) => quote_spanned! {span=>
                __vm::VarLenField::checked_count(#source, #max, #available - #start, #offset)
            },
            None => quote_spanned! {span=>
                __vm::VarLenField::lenient_count(#source, self.#id.len() - #start)
            },
        }
    }

    /// The index of the first element on the wire.
    fn slice_start(&self) -> TokenStream {
        match &self.kind {
            Kind::VarArray {
                len: Len::Range { start, .. },
                ..
            } => start.clone(),
            _ => quote!(0usize),
        }
    }

    /// The `n` elements on the wire, as a place: `self.f[start..start + n]`.
    pub fn slice(&self, n: TokenStream) -> TokenStream {
        let id = self.ident;
        match &self.kind {
            Kind::VarArray {
                len: Len::Range { start, .. },
                ..
            } => quote!(self.#id[#start..#start + #n]),
            _ => quote!(self.#id[..#n]),
        }
    }

    /// `<E as Element>` for a variable array's element type, with its span: every
    /// use of the elements goes through it, so an unsupported element type is one
    /// error, at the field.
    pub fn as_element(&self) -> TokenStream {
        let Kind::VarArray { elem, len, .. } = &self.kind else {
            unreachable!("as_element on a fixed field")
        };
        if let Some((_, path)) = &self.nested {
            return path.clone();
        }
        match len {
            Len::Field { bits: Some(_), .. } => quote_spanned!(elem.span()=> __vm::BitmapWords),
            _ => quote_spanned!(elem.span()=> <#elem as __vm::Element>),
        }
    }

    /// `<T as Field>` with the field type's span, so an unsupported type is reported
    /// at the field; with `struct_version`, the runtime's `nested` helper, whose
    /// methods take [`nested_version`](Self::nested_version) last.
    pub fn as_field(&self) -> TokenStream {
        let ty = self.ty;
        match (&self.nested, &self.bounded) {
            (Some((_, path)), _) | (None, Some(path)) => path.clone(),
            (None, None) => quote_spanned!(ty.span()=> <#ty as __vm::Field>),
        }
    }

    /// `, <nested version>` for the calls of a `struct_version` field's helper (in
    /// terms of `version`, the parent's); nothing for other fields.
    pub fn nested_version(&self) -> TokenStream {
        match self.struct_version.as_deref() {
            None => TokenStream::new(),
            Some([(_, v)]) => quote!(, #v),
            Some(table) => {
                let steps = table.iter().map(|(p, n)| quote!((#p, #n)));
                quote!(, __vm::nested::nested_version(&[#(#steps),*], version))
            }
        }
    }

    /// The field's wire type for its description: `TYPE` of [`as_field`]
    /// (Self::as_field), after checking a `struct_version` table's versions.
    pub fn described_type(&self, ty: TokenStream) -> TokenStream {
        let Some((nested, _)) = &self.nested else {
            return ty;
        };
        let steps = self
            .struct_version
            .iter()
            .flatten()
            .map(|(p, n)| quote!((#p, #n)));
        quote_spanned! {nested.span()=> {
            let _ = __vm::nested::checked_type::<#nested>(&[#(#steps),*]);
            #ty
        }}
    }

    /// For a variable array being saved: binds `__n`, the length field's value
    /// checked against the bound and the storage (errors at `offset`). A `Vec`
    /// counted by a field must hold exactly that many elements: its first ones
    /// alone would be a save that silently drops the rest.
    pub fn var_count_for_save(&self, offset: TokenStream) -> TokenStream {
        let (id, rn) = (self.ident, &self.rust_name);
        let Kind::VarArray {
            max, is_vec, len, ..
        } = &self.kind
        else {
            unreachable!("var_count_for_save on a fixed field")
        };
        let count = self.var_count(Some((max.clone(), quote!(self.#id.len()), offset.clone())));
        let whole = (*is_vec && matches!(len, Len::Field { .. })).then(|| {
            quote! {
                __vm::check_whole_vec(__n, self.#id.len(), #offset).in_field(#rn)?;
            }
        });
        quote! {
            let __n = #count.in_field(#rn)?;
            #whole
        }
    }

    /// For a variable array being loaded: binds `__n`, the length field's value
    /// checked against the bound (and, for arrays, the storage). A `Vec` is not
    /// resized here: its load grows it as elements arrive (`load_slot`), so a count
    /// from the input allocates no more than the input holds.
    pub fn var_count_for_load(&self, offset: TokenStream) -> TokenStream {
        let (id, rn) = (self.ident, &self.rust_name);
        let Kind::VarArray { max, is_vec, .. } = &self.kind else {
            unreachable!("var_count_for_load on a fixed field")
        };
        let available = if *is_vec {
            quote!(#max)
        } else {
            quote!(self.#id.len())
        };
        let count = self.var_count(Some((max.clone(), available, offset)));
        quote! {
            let __n = #count.in_field(#rn)?;
        }
    }

    /// For a variable array being loaded, after `var_count_for_load`: the call
    /// `slice(&mut array[..__n], args)` for an array, `vec(&mut v, __n, args)` for a
    /// `Vec`.
    pub fn load_slot(
        &self,
        slice: TokenStream,
        vec: TokenStream,
        args: TokenStream,
    ) -> TokenStream {
        let id = self.ident;
        let place = self.slice(quote!(__n));
        match &self.kind {
            Kind::VarArray { is_vec: true, .. } => quote!(#vec(&mut self.#id, __n, #args)),
            _ => quote!(#slice(&mut #place, #args)),
        }
    }

    /// A field checked by `equal` or `le`: `get` loads it into a copy `__v` (at
    /// `offset`), which is compared with the current value before it replaces it.
    pub fn checked_load(&self, offset: TokenStream, get: TokenStream) -> TokenStream {
        let (id, rn) = (self.ident, &self.rust_name);
        let test = self
            .check
            .map(|c| c.test(id, rn, self.ty.span()))
            .unwrap_or_default();
        self.when_loaded(
            offset.clone(),
            quote! {
                let __at = #offset;
                let mut __v = ::core::clone::Clone::clone(&self.#id);
                #get
                #test
            },
        )
    }

    /// The `validate` check after the field is loaded, its error at `offset` (the
    /// field's start).
    pub fn validate_call(&self, offset: TokenStream) -> Option<TokenStream> {
        let rn = &self.rust_name;
        self.validate.map(|v| {
            quote_spanned! {v.span()=>
                if let __vm::Err(e) = __vm::hook::check(#v, &*self, version) {
                    return __vm::Err(__vm::validation_error(&e, #offset).in_field(#rn));
                }
            }
        })
    }

    /// A load of the field, `body`, when the field is on the wire, after its
    /// `pre_load` (run on the whole struct; its error at `offset`, the field's start).
    pub fn when_loaded(&self, offset: TokenStream, body: TokenStream) -> TokenStream {
        let rn = &self.rust_name;
        let pre_load = self.pre_load.map(|h| {
            quote_spanned! {h.span()=>
                if let __vm::Err(e) = __vm::hook::on_mut(#h, &mut *self) {
                    return __vm::Err(__vm::hook_error("pre_load", &e, #offset).in_field(#rn));
                }
            }
        });
        self.when_present(quote!(#pre_load #body))
    }

    /// `<S as VMState>` for a subsection's type.
    pub fn as_vmstate(&self) -> TokenStream {
        let ty = match &self.kind {
            Kind::Subsection { ty, .. } => ty,
            _ => self.ty,
        };
        quote_spanned!(ty.span()=> <#ty as __vm::VMState>)
    }

    /// For a subsection: `body` run with `__s: &S` when the subsection is sent
    /// (version in range, `needed`, and `Some` for an `Option`).
    pub fn when_sent(&self, body: TokenStream) -> TokenStream {
        let id = self.ident;
        let Kind::Subsection {
            needed, optional, ..
        } = &self.kind
        else {
            unreachable!("when_sent on a field")
        };
        // The conditions that hold: the version range (none: always), `needed`.
        let versioned = self.versions != (None, None);
        let v = versioned.then_some(&self.version_cond);
        let needed = needed.map(|n| quote_spanned!(n.attr_span()=> __vm::hook::needed(#n, self)));
        let body = if *optional {
            quote! {
                if let ::core::option::Option::Some(__s) = self.#id.as_ref() {
                    #body
                }
            }
        } else {
            quote! {
                let __s = &self.#id;
                #body
            }
        };
        match (v, needed) {
            (None, None) => quote!({ #body }),
            (Some(v), None) => quote!(if #v { #body }),
            (None, Some(n)) => quote!(if #n { #body }),
            (Some(v), Some(n)) => quote!(if #v && #n { #body }),
        }
    }

    /// For a subsection: the version it is sent at (its current one, or what its
    /// `struct_version` table gives for the parent's).
    pub fn subsection_version(&self) -> TokenStream {
        if self.struct_version.is_some() {
            let v = self.nested_version();
            // `, expr`: the expression alone.
            let v: TokenStream = v.into_iter().skip(1).collect();
            return v;
        }
        let vm = self.as_vmstate();
        quote!(#vm::DESC.version)
    }

    /// For a subsection: `&mut S` to load into.
    pub fn subsection_mut(&self) -> TokenStream {
        let id = self.ident;
        match &self.kind {
            Kind::Subsection {
                optional: true,
                new: Some(new),
                ..
            } => quote_spanned! {new.attr_span()=>
                {
                    if self.#id.is_none() {
                        self.#id = ::core::option::Option::Some(__vm::hook::new(#new, &*self));
                    }
                    self.#id.get_or_insert_with(::core::default::Default::default)
                }
            },
            Kind::Subsection { optional: true, .. } => {
                quote!(self.#id.get_or_insert_with(::core::default::Default::default))
            }
            _ => quote!(&mut self.#id),
        }
    }
}

pub fn fields<'a>(c: &'a Container<'a>) -> Vec<FieldPlan<'a>> {
    let Data::Struct(fields) = &c.data else {
        return Vec::new();
    };
    let mut plans: Vec<FieldPlan> = fields
        .iter()
        .filter(|f| f.attrs.skip.is_none())
        .map(plan_field)
        .collect();
    // BER tags number what goes on the wire, fields and subsections each from 0 in
    // declaration order, as a reader of a description without tags (one converted
    // from QEMU's vmdesc) numbers them: a skipped field takes none, and a
    // subsection declared among the fields moves none of theirs.
    for subsections in [false, true] {
        for (tag, p) in plans
            .iter_mut()
            .filter(|p| p.is_subsection() == subsections)
            .enumerate()
        {
            p.tag = tag as u32;
        }
    }
    // QEMU's vmfield_name_num: a name used by several fields gets `[k]`, k counting
    // from 0 in declaration order. Subsections are not fields.
    let names: Vec<String> = plans
        .iter()
        .filter(|p| !p.is_subsection())
        .map(|p| p.desc_name.clone())
        .collect();
    for (i, p) in plans.iter_mut().filter(|p| !p.is_subsection()).enumerate() {
        if names.iter().filter(|n| **n == p.desc_name).count() > 1 {
            let k = names[..i].iter().filter(|n| **n == p.desc_name).count();
            p.vmdesc_name = format!("{}[{k}]", p.desc_name);
        }
    }
    // ASN.1 identifiers: unique among fields (and not the subsection list's name),
    // and among subsections.
    for subsections in [false, true] {
        let mut names: Vec<(String, u32)> = plans
            .iter()
            .filter(|p| p.is_subsection() == subsections)
            .map(|p| (p.asn1_name.clone(), p.tag))
            .collect();
        asn1::dedup(&mut names, if subsections { &[] } else { &["subsections"] });
        for (p, (n, _)) in plans
            .iter_mut()
            .filter(|p| p.is_subsection() == subsections)
            .zip(names)
        {
            p.asn1_name = n;
        }
    }
    plans
}

/// For a `struct_version` field: the nested struct type and the runtime helper of
/// its shape (`None` for a shape `check` reports).
fn nested_helper<'a>(f: &'a Field<'a>, kind: &Kind) -> Option<(&'a Type, TokenStream)> {
    let span = f.ty.span();
    Some(match (&f.shape, kind) {
        (Shape::Array { elem, .. } | Shape::Vec { elem }, Kind::VarArray { .. }) => (
            *elem,
            quote_spanned!(span=> __vm::nested::Elements::<#elem>),
        ),
        (Shape::Plain, Kind::Plain) => {
            let ty = f.ty;
            (ty, quote_spanned!(span=> __vm::nested::Struct::<#ty>))
        }
        (Shape::Array { elem, len }, Kind::Plain) => {
            // A const argument other than a literal or a name needs braces.
            let len = match len {
                syn::Expr::Lit(_) | syn::Expr::Path(_) => quote!(#len),
                _ => quote!({ #len }),
            };
            (
                *elem,
                quote_spanned!(span=> __vm::nested::Array::<#elem, #len>),
            )
        }
        (Shape::Vec { elem }, Kind::Plain) => {
            (*elem, quote_spanned!(span=> __vm::nested::List::<#elem>))
        }
        _ => return None,
    })
}

fn plan_field<'a>(f: &'a Field<'a>) -> FieldPlan<'a> {
    let a = &f.attrs;
    // `r#type` is `type` in descriptions, as QEMU would name it.
    let rust_name = syn::ext::IdentExt::unraw(f.ident).to_string();
    let desc_name = match &a.rename {
        Some(r) => r.value.clone(),
        None if is_unused(f.ty) => "unused".to_owned(),
        // QEMU names every VMSTATE_WITH_TMP field `tmp`.
        None if a.tmp.is_some() => "tmp".to_owned(),
        None => rust_name.clone(),
    };
    let versions = a.version.as_ref().map_or((None, None), |v| (v.min, v.max));
    let version_cond = match versions {
        (None, None) => quote!(true),
        (Some(lo), None) => quote!((version >= #lo)),
        (None, Some(hi)) => quote!((version <= #hi)),
        (Some(lo), Some(hi)) => quote!((version >= #lo && version <= #hi)),
    };
    let exists_cond = match &a.exists {
        Some(p) => quote_spanned!(p.attr_span()=> __vm::hook::exists(#p, &*self, version)),
        None => quote!(true),
    };
    let kind = if a.subsection.is_some() {
        let (ty, optional) = match &f.shape {
            Shape::Option { inner } => (*inner, true),
            _ => (f.ty, false),
        };
        Kind::Subsection {
            needed: a.needed.as_ref(),
            ty,
            optional,
            nonstandard_name: a.nonstandard_name.is_some(),
            new: a.new.as_ref(),
        }
    } else if a.len.is_some() || a.elements.is_some() {
        let (elem, is_vec, bound) = match &f.shape {
            Shape::Array { elem, len } => (*elem, false, quote!(#len)),
            Shape::Vec { elem } => (*elem, true, quote!(0usize)),
            Shape::Plain | Shape::Option { .. } => unreachable!("checked: len on arrays and Vecs"),
        };
        let len = match (&a.len, &a.elements) {
            (Some(field), _) => Len::Field {
                field,
                multiply: a.multiply.as_ref().map(|m| {
                    let v = m.value;
                    quote!(#v)
                }),
                bits: a.bitmap.map(|_| match &a.max {
                    Some(m) => {
                        let v = m.value;
                        quote!(#v)
                    }
                    None => quote!((#bound * 64)),
                }),
            },
            (None, Some(r)) => {
                let start = r.start.clone().unwrap_or_else(|| quote!(0usize));
                let end = r.end.clone().unwrap_or_else(|| bound.clone());
                Len::Range {
                    start,
                    end,
                    array_len: bound.clone(),
                }
            }
            (None, None) => unreachable!("one of them is set"),
        };
        let max = match &a.max {
            // A bitmap's bound is in bits; its elements are words.
            Some(m) if a.bitmap.is_some() => {
                let v = m.value.div_ceil(64);
                quote!(#v)
            }
            Some(m) => {
                let v = m.value;
                quote!(#v)
            }
            None => bound,
        };
        Kind::VarArray {
            elem,
            len,
            max,
            is_vec,
        }
    } else if let (Some(_), Shape::Array { len, .. }) = (a.as_array, &f.shape) {
        Kind::ByteArray { len }
    } else {
        Kind::Plain
    };
    let asn1_name = if a.subsection.is_some() {
        asn1::identifier(&rust_name)
    } else {
        asn1::identifier(&desc_name)
    };
    FieldPlan {
        ident: f.ident,
        ty: f.ty,
        versions,
        has_exists: a.exists.is_some(),
        check: match (&a.equal, &a.le) {
            (Some(_), _) => Some(LoadCheck::Equal),
            (None, Some(_)) => Some(LoadCheck::Le),
            (None, None) => None,
        },
        validate: a.validate.as_ref(),
        pre_load: a.pre_load.as_ref(),
        tmp: a.tmp.is_some(),
        struct_version: a.struct_version.as_ref().map(|v| v.value.clone()),
        nested: a
            .struct_version
            .as_ref()
            .and_then(|_| nested_helper(f, &kind)),
        bounded: match (&kind, &a.max) {
            (Kind::Plain, Some(m)) => {
                let (ty, max) = (f.ty, m.value);
                Some(quote_spanned!(m.span=> <#ty as __vm::Bounded<#max>>))
            }
            _ => None,
        },
        tag: 0,
        asn1_name,
        vmdesc_name: desc_name.clone(),
        rust_name,
        desc_name,
        version_cond,
        exists_cond,
        kind,
    }
}
