//! Host bindings for the relational database interfaces (WIT vendored in `wit/deps`), shared
//! by the grant layer ([`crate::host`]) and the drivers ([`crate::postgres`], [`crate::mysql`]).

wasmtime::component::bindgen!({
    path: [
        "../../wit/deps/spin@2.0.0",
        "../../wit/deps/spin-postgres@3.0.0",
        "../../wit/deps/spin-postgres@4.0.0",
    ],
    inline: "
        package riff:rdbms-host;
        world rdbms {
            import fermyon:spin/postgres@2.0.0;
            import fermyon:spin/mysql@2.0.0;
            import spin:postgres/postgres@3.0.0;
            import spin:postgres/postgres@4.0.0;
        }
    ",
    world: "riff:rdbms-host/rdbms",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/postgres.connection": crate::pool::PgLease,
        "fermyon:spin/mysql.connection": crate::pool::MySqlLease,
        "spin:postgres/postgres@3.0.0.connection": crate::pool::PgLease,
        "spin:postgres/postgres@4.0.0.connection": crate::pool::PgLease,
    },
});
