import { useEffect, useState } from "react";
import { listProducts, type Product } from "../api/products";
import { ProductCard } from "../components/ProductCard";
import { useDebounce } from "../hooks/useDebounce";

export function HomePage() {
  const [query, setQuery] = useState("");
  const [products, setProducts] = useState<Product[]>([]);
  const debounced = useDebounce(query, 250);

  useEffect(() => {
    listProducts({ search: debounced }).then(setProducts);
  }, [debounced]);

  return (
    <main>
      <input
        type="search"
        placeholder="Search apples, bread, coffee…"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
      />
      <section className="grid">
        {products.map((p) => (
          <ProductCard key={p.id} product={p} />
        ))}
      </section>
    </main>
  );
}
