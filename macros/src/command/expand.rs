//! Generates the `Command` impl (and, for enums, `From` for each variant).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::model::{CommandModel, Expect, Shape, Target};

pub fn expand(model: &CommandModel) -> TokenStream {
    let CommandModel {
        ident,
        krate,
        aggregate,
        shape,
    } = model;
    let signature = quote! {
        type Aggregate = #aggregate;
    };
    let handle_sig = quote! {
        fn handle(
            &self,
            aggregate: &Self::Aggregate,
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
            let id = match target {
                Target::Field(member, ty) => quote_spanned! {ty.span()=>
                    ::std::string::ToString::to_string(&self.#member)
                },
                Target::Accessor(path) => quote_spanned! {path.span()=>
                    ::std::string::ToString::to_string(&#path(self))
                },
            };
            // Spanned at `aggregate = ...`: a missing `Handle<Self>` impl is reported there.
            let handle = quote_spanned! {aggregate.span()=>
                <#aggregate as #krate::Handle<Self>>::handle(aggregate, self)
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
            (body, TokenStream::new())
        }
        Shape::Enum { variants } => {
            let idents: Vec<_> = variants.iter().map(|(v, _)| v).collect();
            let variants_ty: Vec<_> = variants.iter().map(|(_, ty)| ty).collect();
            let asserts = variants.iter().map(|(_, ty)| {
                quote_spanned! {ty.span()=> __annals_assert_command::<#ty>(); }
            });
            let body = quote! {
                #[inline]
                fn command_name(&self) -> &'static str {
                    match self { #(Self::#idents(command) => #krate::Command::command_name(command),)* }
                }
                #[inline]
                fn aggregate_id(&self) -> ::std::string::String {
                    match self { #(Self::#idents(command) => #krate::Command::aggregate_id(command),)* }
                }
                #[inline]
                fn expect(&self) -> #krate::Expect {
                    match self { #(Self::#idents(command) => #krate::Command::expect(command),)* }
                }
                #[inline]
                #handle_sig {
                    match self { #(Self::#idents(command) => #krate::Command::handle(command, aggregate),)* }
                }
            };
            let extra = quote! {
                // Each variant must wrap a command of the same aggregate.
                fn __annals_assert_command<C: #krate::Command<Aggregate = #aggregate>>() {}
                fn __annals_assert_commands() { #(#asserts)* }
                #(
                    #[automatically_derived]
                    impl ::core::convert::From<#variants_ty> for #ident {
                        #[inline]
                        fn from(command: #variants_ty) -> Self { Self::#idents(command) }
                    }
                )*
            };
            (body, extra)
        }
    };
    quote! {
        #[doc(hidden)]
        #[allow(unused_qualifications, clippy::all)]
        const _: () = {
            #[automatically_derived]
            impl #krate::Command for #ident {
                #signature
                #body
            }
            #extra
        };
    }
}

/// After an error: a `Command` impl that compiles, so uses of the command elsewhere do not
/// add follow-on errors.
pub fn fallback(model: &CommandModel) -> TokenStream {
    let CommandModel {
        ident,
        krate,
        aggregate,
        ..
    } = model;
    quote! {
        const _: () = {
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
        };
    }
}
