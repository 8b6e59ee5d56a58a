//! Generates the `Command` impl (and, for enums, `From` for each variant).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::model::{Expect, Header, Shape, Target};
use crate::attr::{local, located, respan};
use crate::derive::in_const;

pub fn expand(header: &Header, shape: &Shape) -> TokenStream {
    let Header {
        ident,
        krate,
        aggregate,
    } = header;
    let (aggregate_arg, command, id_arg) = (local("aggregate"), local("command"), local("id"));
    let handle_sig = quote! {
        fn handle(
            &self,
            #aggregate_arg: &Self::Aggregate,
        ) -> ::core::result::Result<
            ::std::vec::Vec<<Self::Aggregate as #krate::Aggregate>::Event>,
            <Self::Aggregate as #krate::Aggregate>::Error,
        >
    };
    let (body, extra) = match shape {
        Shape::Struct {
            name,
            expect,
            target,
        } => {
            let expect = match expect {
                Expect::New => quote!(#krate::Expect::New),
                Expect::Existing => quote!(#krate::Expect::Existing),
                Expect::Any => quote!(#krate::Expect::Any),
            };
            // Through `aggregate_id`, whose `Display` bound is reported at the `#[id]` field's
            // type (or at the accessor) when the id cannot be displayed.
            let id = match target {
                Target::Field(member, ty) => quote_spanned! {ty.span()=>
                    aggregate_id(&self.#member)
                },
                Target::Accessor(path) => quote_spanned! {path.span()=>
                    aggregate_id(&#path(self))
                },
            };
            // Spanned at `aggregate = ...`: a missing `Handle<Self>` impl is reported there.
            let span = aggregate.span();
            let krate_here = respan(krate, span);
            let handle = quote_spanned! {span=>
                <#aggregate as #krate_here::Handle<Self>>::handle(#aggregate_arg, self)
            };
            let body = quote! {
                #[inline]
                fn command_name(&self) -> &'static str { #name }
                #[inline]
                fn aggregate_id(&self) -> ::std::string::String { #id }
                #[inline]
                fn expect(&self) -> #krate::Expect { #expect }
                #[inline]
                #handle_sig { #handle }
            };
            let extra = quote! {
                #[inline]
                fn aggregate_id<T: ::core::fmt::Display + ?::core::marker::Sized>(
                    #id_arg: &T,
                ) -> ::std::string::String {
                    ::std::string::ToString::to_string(#id_arg)
                }
            };
            (body, extra)
        }
        Shape::Enum { variants, complete } => {
            // A variant that does not wrap one command has no arm (its mistake is reported).
            let rest = (!complete).then(|| quote! { _ => ::core::unreachable!(), });
            let idents: Vec<_> = variants.iter().map(|(v, _)| v).collect();
            let variants_ty: Vec<_> = variants.iter().map(|(_, ty)| ty).collect();
            // Each arm goes through `command_of_this_aggregate`, whose bound
            // `C: Command<Aggregate = A>` is reported once, at the variant's type, when the
            // variant wraps a command of another aggregate.
            let handle_arms = variants.iter().map(|(variant, ty)| {
                let span = ty.span();
                // Located at the variant's type, so an unmet bound points there; resolved
                // like the binding, so it still names it.
                let command = located(&command, span);
                let aggregate_arg = located(&aggregate_arg, span);
                quote_spanned! {span=>
                    Self::#variant(#command) => command_of_this_aggregate::<#ty, #aggregate>(#command, #aggregate_arg),
                }
            });
            let body = quote! {
                #[inline]
                fn command_name(&self) -> &'static str {
                    match self { #(Self::#idents(#command) => #krate::Command::command_name(#command),)* #rest }
                }
                #[inline]
                fn aggregate_id(&self) -> ::std::string::String {
                    match self { #(Self::#idents(#command) => #krate::Command::aggregate_id(#command),)* #rest }
                }
                #[inline]
                fn expect(&self) -> #krate::Expect {
                    match self { #(Self::#idents(#command) => #krate::Command::expect(#command),)* #rest }
                }
                #[inline]
                #handle_sig {
                    match self { #(#handle_arms)* #rest }
                }
            };
            let extra = quote! {
                #[inline]
                fn command_of_this_aggregate<C, A>(
                    #command: &C,
                    #aggregate_arg: &A,
                ) -> ::core::result::Result<
                    ::std::vec::Vec<<A as #krate::Aggregate>::Event>,
                    <A as #krate::Aggregate>::Error,
                >
                where
                    C: #krate::Command<Aggregate = A>,
                    A: #krate::Aggregate,
                {
                    #krate::Command::handle(#command, #aggregate_arg)
                }
                #(
                    #[automatically_derived]
                    impl ::core::convert::From<#variants_ty> for #ident {
                        #[inline]
                        fn from(#command: #variants_ty) -> Self { Self::#idents(#command) }
                    }
                )*
            };
            (body, extra)
        }
    };
    in_const(quote! {
        #[automatically_derived]
        impl #krate::Command for #ident {
            type Aggregate = #aggregate;
            #body
        }
        #extra
    })
}

/// After a mistake in the command's target id: a `Command` impl that compiles, so uses of
/// the command elsewhere report nothing on top of the mistake.
pub fn without_target(header: &Header) -> TokenStream {
    let Header {
        ident,
        krate,
        aggregate,
    } = header;
    in_const(quote! {
            impl #krate::Command for #ident {
                type Aggregate = #aggregate;
                fn command_name(&self) -> &'static str { ::core::unreachable!() }
                fn aggregate_id(&self) -> ::std::string::String { ::core::unreachable!() }
                fn expect(&self) -> #krate::Expect { ::core::unreachable!() }
                fn handle(
                    &self,
                    _: &Self::Aggregate,
                ) -> ::core::result::Result<
                    ::std::vec::Vec<<Self::Aggregate as #krate::Aggregate>::Event>,
                    <Self::Aggregate as #krate::Aggregate>::Error,
                > {
                    ::core::unreachable!()
                }
            }
    })
}
