//! Both crates in one graph: an annals store and a sqlx pool side by side.

/// Opens the annals store and the application's own sqlx pool on one SQLite file.
pub async fn open(path: &str) -> Result<(annals::store::SqliteStore, sqlx::SqlitePool), Box<dyn std::error::Error>> {
    let store = annals::store::SqliteStore::open(path)?;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{path}?mode=rwc")).await?;
    Ok((store, pool))
}
