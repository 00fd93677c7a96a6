import { Link } from "react-router-dom";
import type { Product } from "../api/products";
import { PriceTag } from "./PriceTag";

export function ProductCard({ product }: { product: Product }) {
  return (
    <Link to={`/products/${product.slug}`} className="card">
      <img src={product.imageUrl} alt="" loading="lazy" />
      <h2>{product.name}</h2>
      <PriceTag cents={product.priceCents} />
      {product.stock === 0 && <span className="badge">Sold out</span>}
    </Link>
  );
}
